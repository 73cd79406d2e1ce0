#!/usr/bin/env python3
"""Checks that a Chromium screenshot is not blank: size, many colours, mostly not
background, and at least N colours of a palette drawn (50+ pixels each).

    tests/png_check.py PNG NAME MIN_DRAWN name=rrggbb [name=rrggbb ...]

Used by tests/render_report.sh and tests/render_explain.sh. Reads 8-bit RGB/RGBA,
non-interlaced PNG (what Chromium writes) with the standard library only."""
import struct, sys, zlib

path, who, min_drawn = sys.argv[1], sys.argv[2], int(sys.argv[3])
palette = dict(a.split("=", 1) for a in sys.argv[4:])
data = open(path, "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
pos, idat = 8, b""
while pos < len(data):
    n, kind = struct.unpack(">I4s", data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + n]
    if kind == b"IHDR":
        w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", body)
    elif kind == b"IDAT":
        idat += body
    pos += 12 + n
assert depth == 8 and ctype in (2, 6) and interlace == 0, (depth, ctype, interlace)
bpp = 3 if ctype == 2 else 4
raw = zlib.decompress(idat)
stride = w * bpp
prev = bytearray(stride)
colours = {}
for y in range(h):
    f = raw[y * (stride + 1)]
    line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
    if f == 1:
        for i in range(bpp, stride):
            line[i] = (line[i] + line[i - bpp]) & 255
    elif f == 2:
        line = bytearray((a + b) & 255 for a, b in zip(line, prev))
    elif f == 3:
        for i in range(stride):
            left = line[i - bpp] if i >= bpp else 0
            line[i] = (line[i] + ((left + prev[i]) >> 1)) & 255
    elif f == 4:
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], (prev[i - bpp] if i >= bpp else 0)
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    for x in range(0, stride, bpp):
        px = bytes(line[x:x + 3])
        colours[px] = colours.get(px, 0) + 1
    prev = line
total = w * h
background = max(colours.values())
ink = total - background
drawn = [name for name, hexc in palette.items() if colours.get(bytes.fromhex(hexc), 0) >= 50]
print(f"{path}: {w}x{h}, {len(data)} bytes, {len(colours)} colours, "
      f"{100 * ink / total:.1f} % not background, drawn: {', '.join(drawn) or 'none'}")
problems = []
if len(data) < 20_000:
    problems.append("file smaller than 20 kB")
if len(colours) < 16:
    problems.append("fewer than 16 colours")
if ink < total // 50:
    problems.append("less than 2 % of pixels differ from the background")
if len(drawn) < min_drawn:
    problems.append(f"fewer than {min_drawn} palette colours drawn")
if problems:
    sys.exit(f"{who}: blank or broken screenshot: " + "; ".join(problems))
