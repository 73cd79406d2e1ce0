//! The SVG bar chart every chart of the report is drawn with: bars, axis ticks, the
//! frame and the labels.

use super::*;

/// Width of every chart (SVG user units; the page scales it down to fit).
pub(super) const WIDTH: f64 = 1100.0;
/// Rough width of one character of the 11-unit chart font, for layout only.
pub(super) const CHAR_W: f64 = 6.6;

// ---- the SVG bar chart, used by every chart ----------------------------------------

pub(super) struct Series {
    pub(super) name: &'static str,
    pub(super) colour: &'static str,
    /// One value per category.
    pub(super) values: Vec<f64>,
}

/// A bar chart: bars side by side (`stacked: false`) or stacked, vertical or horizontal.
pub(super) struct Chart {
    pub(super) title: &'static str,
    pub(super) category_axis: &'static str,
    pub(super) value_axis: &'static str,
    pub(super) categories: Vec<String>,
    pub(super) series: Vec<Series>,
    pub(super) stacked: bool,
    pub(super) horizontal: bool,
    pub(super) format: fn(f64) -> String,
}

impl Chart {
    pub(super) fn value(&self, series: usize, cat: usize) -> f64 {
        self.series[series].values.get(cat).copied().unwrap_or(0.0)
    }
    pub(super) fn total(&self, cat: usize) -> f64 {
        (0..self.series.len()).map(|s| self.value(s, cat)).sum()
    }
    /// The longest bar or stack.
    fn max(&self) -> f64 {
        let mut m: f64 = 0.0;
        for cat in 0..self.categories.len() {
            if self.stacked {
                m = m.max(self.total(cat));
            } else {
                for s in 0..self.series.len() {
                    m = m.max(self.value(s, cat));
                }
            }
        }
        m
    }
}

/// One bar (or stack segment): value range and its slot within the category band,
/// as fractions of the band.
pub(super) struct Bar {
    cat: usize,
    series: usize,
    from: f64,
    to: f64,
    offset: f64,
    width: f64,
}

pub(super) fn bars(c: &Chart) -> Vec<Bar> {
    let k = c.series.len().max(1) as f64;
    let mut out = Vec::new();
    for cat in 0..c.categories.len() {
        let mut base = 0.0;
        for series in 0..c.series.len() {
            let v = c.value(series, cat);
            out.push(if c.stacked {
                Bar {
                    cat,
                    series,
                    from: base,
                    to: base + v,
                    offset: 0.12,
                    width: 0.76,
                }
            } else {
                let w = 0.8 / k;
                Bar {
                    cat,
                    series,
                    from: 0.0,
                    to: v,
                    offset: 0.1 + w * series as f64,
                    width: w,
                }
            });
            base += v;
        }
    }
    out
}

/// A "nice" tick step (1, 2 or 5 × 10ⁿ, at least 1) and the axis maximum.
pub(super) fn ticks(max: f64) -> (f64, f64) {
    if max <= 0.0 {
        return (1.0, 1.0);
    }
    let raw = max / 5.0;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag)
        .max(1.0);
    (step, (max / step).ceil() * step)
}

/// Plot geometry: maps (category band position, value) to SVG coordinates.
pub(super) struct Frame {
    horizontal: bool,
    left: f64,
    top: f64,
    /// Length of the value axis in pixels.
    value_len: f64,
    /// Width of one category band in pixels.
    band: f64,
    n: usize,
    axis_max: f64,
}

impl Frame {
    fn along(&self, v: f64) -> f64 {
        v / self.axis_max * self.value_len
    }
    /// Pixel length of the category axis.
    fn cat_len(&self) -> f64 {
        self.band * self.n as f64
    }
    /// SVG point for (position along the category axis in bands, value).
    fn point(&self, pos: f64, v: f64) -> (f64, f64) {
        if self.horizontal {
            (self.left + self.along(v), self.top + pos * self.band)
        } else {
            (
                self.left + pos * self.band,
                self.top + self.value_len - self.along(v),
            )
        }
    }
    /// Rectangle (x, y, w, h) of a bar.
    fn rect(&self, b: &Bar) -> (f64, f64, f64, f64) {
        let pos = b.cat as f64 + b.offset;
        let (x0, y0) = self.point(pos, b.from);
        let (x1, y1) = self.point(pos + b.width, b.to);
        (x0.min(x1), y0.min(y1), (x1 - x0).abs(), (y1 - y0).abs())
    }
}

pub(super) fn text_w(s: &str) -> f64 {
    s.chars().count() as f64 * CHAR_W
}

pub(super) fn svg(c: &Chart) -> String {
    let n = c.categories.len();
    let (step, axis_max) = ticks(c.max());
    let bars = bars(c);
    let fmt = c.format;
    // Value labels: stack totals, or one per bar.
    let ends: Vec<(f64, f64, f64, String)> = if c.stacked {
        (0..n)
            .map(|cat| (cat as f64 + 0.12, 0.76, c.total(cat), fmt(c.total(cat))))
            .collect()
    } else {
        bars.iter()
            .map(|b| (b.cat as f64 + b.offset, b.width, b.to, fmt(b.to)))
            .collect()
    };
    let widest_value = ends.iter().map(|e| text_w(&e.3)).fold(0.0, f64::max);
    let widest_tick = text_w(&fmt(axis_max));
    let widest_cat = c.categories.iter().map(|s| text_w(s)).fold(0.0, f64::max);
    let legend = c.series.len() > 1;
    let head = if legend { 62.0 } else { 40.0 };

    let mut f = Frame {
        horizontal: c.horizontal,
        left: 0.0,
        top: 0.0,
        value_len: 0.0,
        band: 0.0,
        n,
        axis_max,
    };
    let (height, rotate_values, cat_every, rotate_cats);
    if c.horizontal {
        f.band = if c.stacked {
            22.0
        } else {
            6.0 + 16.0 * c.series.len() as f64
        };
        f.left = 30.0 + widest_cat + 10.0;
        f.top = head;
        f.value_len = WIDTH - f.left - widest_value.max(widest_tick / 2.0) - 16.0;
        height = f.top + f.cat_len().max(f.band) + 44.0;
        (rotate_values, cat_every, rotate_cats) = (false, 1, false);
    } else {
        f.left = 30.0 + widest_tick + 10.0;
        f.band = (WIDTH - f.left - 16.0) / n.max(1) as f64;
        let slot = if c.stacked {
            0.76
        } else {
            0.8 / c.series.len().max(1) as f64
        };
        rotate_values = widest_value > f.band * slot + 4.0;
        rotate_cats = widest_cat > f.band - 4.0;
        cat_every = if rotate_cats {
            (14.0 / f.band).ceil().max(1.0) as usize
        } else {
            1
        };
        f.top = head
            + if rotate_values {
                widest_value + 10.0
            } else {
                16.0
            };
        f.value_len = 200.0;
        let cats = if rotate_cats {
            widest_cat * 0.72 + 18.0
        } else {
            20.0
        };
        height = f.top + f.value_len + cats + 30.0;
    }

    let mut s = String::with_capacity(16 * 1024);
    let _ = writeln!(
        s,
        "<svg viewBox=\"0 0 {WIDTH} {height:.0}\" role=\"img\" aria-label=\"{t}\">\n<title>{t}</title>\n\
         <text class=\"t\" x=\"8\" y=\"22\">{t}</text>",
        t = esc(c.title)
    );
    if legend {
        let mut x = 8.0;
        for se in &c.series {
            let _ = writeln!(
                s,
                "<rect x=\"{x:.1}\" y=\"34\" width=\"14\" height=\"14\" fill=\"{}\" stroke=\"#555\" stroke-width=\"0.5\"/>\
                 <text x=\"{:.1}\" y=\"45\">{}</text>",
                se.colour,
                x + 19.0,
                esc(se.name)
            );
            x += 19.0 + text_w(se.name) + 22.0;
        }
    }
    // Grid and value ticks.
    let mut v = 0.0;
    while v <= axis_max + step / 2.0 {
        let (a, b) = (f.point(0.0, v), f.point(n as f64, v));
        let _ = write!(
            s,
            "<line class=\"grid\" x1=\"{:.1}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\"/>",
            a.0, a.1, b.0, b.1
        );
        let label = esc(&fmt(v));
        let _ = if c.horizontal {
            writeln!(
                s,
                "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{label}</text>",
                b.0,
                b.1 + 15.0
            )
        } else {
            writeln!(
                s,
                "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{label}</text>",
                a.0 - 6.0,
                a.1 + 4.0
            )
        };
        v += step;
    }
    // Bars, with a tooltip and, when it fits, the segment's own number inside.
    for b in &bars {
        let (x, y, w, hh) = f.rect(b);
        let se = &c.series[b.series];
        let value = b.to - b.from;
        let _ = writeln!(
            s,
            "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"{hh:.1}\" fill=\"{}\"><title>{} · {}: {}</title></rect>",
            se.colour,
            esc(&c.categories[b.cat]),
            esc(se.name),
            esc(&fmt(value))
        );
        let label = fmt(value);
        if c.stacked && c.series.len() > 1 && value > 0.0 && w >= text_w(&label) + 4.0 && hh >= 14.0
        {
            let _ = writeln!(
                s,
                "<text class=\"v\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
                x + w / 2.0,
                y + hh / 2.0 + 4.0,
                esc(&label)
            );
        }
    }
    // Numbers at the end of each bar or stack.
    for (pos, width, value, label) in &ends {
        let (x, y) = f.point(pos + width / 2.0, *value);
        let label = esc(label);
        let _ = if c.horizontal {
            writeln!(
                s,
                "<text class=\"v\" x=\"{:.1}\" y=\"{:.1}\">{label}</text>",
                x + 5.0,
                y + 4.0
            )
        } else if rotate_values {
            writeln!(
                s,
                "<text class=\"v\" transform=\"translate({:.1},{:.1}) rotate(-90)\">{label}</text>",
                x + 4.0,
                y - 4.0
            )
        } else {
            writeln!(
                s,
                "<text class=\"v\" x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{label}</text>",
                y - 4.0
            )
        };
    }
    // Category labels.
    for (i, cat) in c.categories.iter().enumerate() {
        let (x, y) = f.point(i as f64 + 0.5, 0.0);
        let cat = esc(cat);
        let _ = if c.horizontal {
            writeln!(
                s,
                "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{cat}</text>",
                x - 8.0,
                y + 4.0
            )
        } else if rotate_cats {
            if i % cat_every != 0 && i + 1 != n {
                continue;
            }
            writeln!(
                s,
                "<text transform=\"translate({:.1},{:.1}) rotate(-45)\" text-anchor=\"end\">{cat}</text>",
                x + 4.0,
                y + 12.0
            )
        } else {
            writeln!(
                s,
                "<text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{cat}</text>",
                y + 16.0
            )
        };
    }
    if n == 0 {
        let (x, y) = f.point(0.0, 0.0);
        let _ = writeln!(
            s,
            "<text x=\"{:.1}\" y=\"{:.1}\">no data</text>",
            x + 10.0,
            y - 10.0
        );
    }
    // Axes and their labels.
    // The value axis runs where its tick labels are: left of vertical bars, under
    // horizontal ones.
    let base = if c.horizontal { n as f64 } else { 0.0 };
    let (o, e1) = (f.point(0.0, 0.0), f.point(n as f64, 0.0));
    let (v0, v1) = (f.point(base, 0.0), f.point(base, axis_max));
    let _ = writeln!(
        s,
        "<path class=\"axis\" fill=\"none\" d=\"M{:.1} {:.1}L{:.1} {:.1}M{:.1} {:.1}L{:.1} {:.1}\"/>",
        o.0, o.1, e1.0, e1.1, v0.0, v0.1, v1.0, v1.1
    );
    let (bottom_label, side_label) = if c.horizontal {
        (c.value_axis, c.category_axis)
    } else {
        (c.category_axis, c.value_axis)
    };
    let mid_x = f.left
        + if c.horizontal {
            f.value_len
        } else {
            f.cat_len()
        } / 2.0;
    let mid_y = f.top
        + if c.horizontal {
            f.cat_len()
        } else {
            f.value_len
        } / 2.0;
    let _ = writeln!(
        s,
        "<text class=\"ax\" x=\"{mid_x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>\n\
         <text class=\"ax\" transform=\"translate(16,{mid_y:.1}) rotate(-90)\" text-anchor=\"middle\">{}</text>\n</svg>",
        height - 8.0,
        esc(bottom_label),
        esc(side_label)
    );
    s
}
