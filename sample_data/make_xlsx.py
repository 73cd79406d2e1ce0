"""Writes sample_data/ledger/employers-2024-2026.xlsx: the ledger of 20 more generated
people as one Excel sheet, the way an employer sends its list.

    cargo run -- generate --persons 20 --months 30 --start 2024-01 --seed 20261201 --out /tmp/excel-sample
    python3 sample_data/make_xlsx.py /tmp/excel-sample/ledger sample_data/ledger/employers-2024-2026.xlsx

Needs openpyxl (3.1.5 is the version the tests pin). The rows of all generated files
go to one sheet "缴费明细" under a title row, in file order. Cells are typed as an
employer's spreadsheet would type them: money as numbers, `paid_on` as date cells,
IDs, periods and region codes as text; a value that is not a valid number or date
(the generator's deliberately faulty rows) stays text, so it is rejected as in CSV.
Rows with the wrong number of fields (the generator's PARSE_ERROR rows) are left out:
a sheet has no such thing. The workbook's timestamps are fixed; the zip container
may still differ byte for byte between runs of the script.
"""

import csv
import datetime
import glob
import os
import re
import sys

import openpyxl

MONEY = re.compile(r"^-?\d+(\.\d+)?$")


def main(src, out):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "缴费明细"
    stamp = datetime.datetime(2026, 12, 1)
    wb.properties.created = stamp
    wb.properties.modified = stamp
    header = None
    for path in sorted(glob.glob(os.path.join(src, "*.csv"))):
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
        if header is None:
            header = rows[0]
            ws.append(["医保缴费明细 2024-01 … 2026-06"])
            ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(header))
            ws.append(header)
        for row in rows[1:]:
            if len(row) != len(header):
                continue
            cells = []
            for name, value in zip(header, row):
                if name in ("amount", "base") and MONEY.match(value):
                    cells.append(float(value))
                elif name == "paid_on" and value:
                    try:
                        cells.append(datetime.date.fromisoformat(value))
                    except ValueError:
                        cells.append(value)
                else:
                    cells.append(value if value != "" else None)
            ws.append(cells)
            for cell in ws[ws.max_row]:
                if isinstance(cell.value, datetime.date):
                    cell.number_format = "yyyy-mm-dd"
    wb.save(out)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
