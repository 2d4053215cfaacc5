//! SVG charts drawn with `plotters` (SVG backend only: text is left to the browser, so no system
//! fonts are needed).
//!
//! - [`percentile_chart`]: latency against percentile, one line per server, the percentile axis
//!   on HdrHistogram's log scale (each "nine" as wide as the one before).
//! - [`throughput_chart`]: p99 latency against achieved throughput over a sweep.

use crate::hist::CurvePoint;
use anyhow::anyhow;
use plotters::coord::ranged1d::ValueFormatter;
use plotters::prelude::*;
use std::path::Path;

const SIZE: (u32, u32) = (960, 560);

/// Colours that stay apart on white, one per series.
const PALETTE: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(23, 190, 207),
];

/// The "number of nines" of a percentile: 0 for 0%, 1 for 90%, 2 for 99%, ...
pub fn nines(percentile: f64) -> f64 {
    let tail = (1.0 - percentile / 100.0).max(1e-9);
    -tail.log10()
}

/// The percentile label for a position on the nines axis: `0%`, `90%`, `99.9%`.
pub fn nines_label(x: f64) -> String {
    let p = 100.0 * (1.0 - 10f64.powf(-x));
    let decimals = (x.round() as i64 - 2).max(0) as usize;
    format!("{p:.decimals$}%")
}

/// A point of a throughput chart: achieved per second, p99 µs, and whether the step held its
/// offered rate.
pub type RatePoint = (f64, u64, bool);

/// One line of a chart.
pub struct Series<'a, P> {
    pub label: &'a str,
    pub points: P,
}

/// Draws latency-by-percentile curves to `path`.
pub fn percentile_chart(
    path: &Path,
    title: &str,
    series: &[Series<'_, &[CurvePoint]>],
) -> anyhow::Result<()> {
    let max_x = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| nines(p.percentile)))
        .fold(2.0f64, f64::max)
        .ceil();
    let all_ms = || series.iter().flat_map(|s| s.points.iter().map(|p| ms(p.latency_us)));
    let max_ms = all_ms().fold(0.01f64, f64::max) * 1.5;
    let min_ms = all_ms().fold(max_ms, f64::min).max(0.001) / 1.5;
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(plotting)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(16)
        .margin_right(48)
        .x_label_area_size(48)
        .y_label_area_size(72)
        .build_cartesian_2d(0f64..max_x, (min_ms..max_ms).log_scale())
        .map_err(plotting)?;
    chart
        .configure_mesh()
        .x_desc("percentile (log scale of 1/(1-p))")
        .y_desc("latency (ms, log scale)")
        .x_labels(max_x as usize + 1)
        .x_label_formatter(&|x| nines_label(*x))
        .y_label_formatter(&|y| fmt_ms(*y))
        .draw()
        .map_err(plotting)?;
    for (i, s) in series.iter().enumerate() {
        let line = s.points.iter().map(|p| (nines(p.percentile), ms(p.latency_us)));
        add_line(&mut chart, s.label, PALETTE[i % PALETTE.len()], line)?;
    }
    finish(&mut chart, &root)
}

/// A latency in µs as milliseconds, never zero (log axes).
fn ms(us: u64) -> f64 {
    (us.max(1)) as f64 / 1e3
}

/// A tick label on a log latency axis: `0.05`, `0.5`, `5`, `50` (ms).
fn fmt_ms(ms: f64) -> String {
    if ms >= 10.0 {
        format!("{ms:.0}")
    } else if ms >= 1.0 {
        format!("{ms:.1}")
    } else if ms >= 0.1 {
        format!("{ms:.2}")
    } else {
        format!("{ms:.3}")
    }
}

/// Draws p99 latency (log scale) against achieved throughput, one line per server, to `path`.
/// Points are `(achieved per second, p99 µs, held)`: a point that did not hold its offered rate
/// (saturation) is drawn hollow. With `slo_us`, a dashed line marks the threshold.
/// Throughput is on a log scale too when it spans a factor of 20 or more (a ladder of doubling
/// rates then has evenly spaced steps).
pub fn throughput_chart(
    path: &Path,
    title: &str,
    series: &[Series<'_, Vec<RatePoint>>],
    slo_us: Option<u64>,
) -> anyhow::Result<()> {
    let all = || series.iter().flat_map(|s| s.points.iter());
    let lat = || all().map(|p| ms(p.1)).chain(slo_us.map(ms));
    let max_ms = lat().fold(0.1f64, f64::max) * 1.5;
    let min_ms = lat().fold(max_ms, f64::min).max(0.001) / 1.5;
    let max_x = all().map(|p| p.0).fold(1.0f64, f64::max) * 1.15;
    let min_x = all().map(|p| p.0).filter(|&x| x > 0.0).fold(max_x, f64::min) / 1.15;
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(plotting)?;
    let mut builder = ChartBuilder::on(&root);
    builder
        .caption(title, ("sans-serif", 22))
        .margin(16)
        .margin_right(48)
        .x_label_area_size(48)
        .y_label_area_size(72);
    let y = (min_ms..max_ms).log_scale();
    if max_x / min_x >= 20.0 {
        let mut chart =
            builder.build_cartesian_2d((min_x..max_x).log_scale(), y).map_err(plotting)?;
        draw_throughput(&mut chart, &root, series, slo_us, (min_x, max_x), "log scale")
    } else {
        let mut chart = builder.build_cartesian_2d(0f64..max_x, y).map_err(plotting)?;
        draw_throughput(&mut chart, &root, series, slo_us, (0.0, max_x), "")
    }
}

fn draw_throughput<'a, DB, X, Y>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<X, Y>>,
    root: &DrawingArea<DB, plotters::coord::Shift>,
    series: &[Series<'_, Vec<RatePoint>>],
    slo_us: Option<u64>,
    x_range: (f64, f64),
    x_scale: &str,
) -> anyhow::Result<()>
where
    DB: DrawingBackend + 'a,
    X: Ranged<ValueType = f64> + ValueFormatter<f64>,
    Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    let x_desc = match x_scale {
        "" => "achieved throughput (per second)".to_string(),
        s => format!("achieved throughput (per second, {s})"),
    };
    chart
        .configure_mesh()
        .max_light_lines(1)
        .x_labels(8)
        .y_labels(8)
        .x_desc(x_desc)
        .y_desc("p99 latency (ms, log scale)")
        .x_label_formatter(&|x| crate::units::fmt_rate(*x))
        .y_label_formatter(&|y| fmt_ms(*y))
        .draw()
        .map_err(plotting)?;
    if let Some(slo) = slo_us {
        let line = vec![(x_range.0, ms(slo)), (x_range.1, ms(slo))];
        let style = ShapeStyle::from(&BLACK.mix(0.6)).stroke_width(1);
        chart
            .draw_series(DashedLineSeries::new(line, 8, 6, style))
            .map_err(plotting)?
            .label(format!("p99 threshold {}", crate::units::fmt_us(slo)))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
    }
    for (i, s) in series.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        let pts: Vec<(f64, f64)> = s.points.iter().map(|&(x, us, _)| (x, ms(us))).collect();
        add_line(chart, s.label, color, pts.clone())?;
        // Held points filled; the step where the server saturated hollow.
        let marks = s.points.iter().map(|&(x, us, held)| {
            let style = if held { color.filled() } else { color.stroke_width(2) };
            Circle::new((x, ms(us)), 4, style)
        });
        chart.draw_series(marks).map_err(plotting)?;
    }
    finish(chart, root)
}

/// Renders `svg` to a PNG next to it with `rsvg-convert` or ImageMagick's `convert`, whichever
/// is installed; returns true if and only if one of them succeeded.
pub fn to_png(svg: &Path) -> bool {
    let png = svg.with_extension("png");
    let tries: [(&str, Vec<&std::ffi::OsStr>); 2] = [
        (
            "rsvg-convert",
            vec!["-b".as_ref(), "white".as_ref(), "-o".as_ref(), png.as_os_str(), svg.as_os_str()],
        ),
        ("convert", vec![svg.as_os_str(), png.as_os_str()]),
    ];
    tries.iter().any(|(bin, args)| {
        std::process::Command::new(bin)
            .args(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

/// Draws one labelled line of `color` through `points`.
fn add_line<'a, DB, X, Y>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<X, Y>>,
    label: &str,
    color: RGBColor,
    points: impl IntoIterator<Item = (X::ValueType, Y::ValueType)>,
) -> anyhow::Result<()>
where
    DB: DrawingBackend + 'a,
    X: Ranged,
    Y: Ranged,
    X::ValueType: Clone + 'static,
    Y::ValueType: Clone + 'static,
{
    chart
        .draw_series(LineSeries::new(points, color.stroke_width(2)))
        .map_err(plotting)?
        .label(label)
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
    Ok(())
}

/// Draws the legend (in the corner where data is least likely: latency curves rise to the
/// right) and writes the file.
fn finish<'a, DB, X, Y>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<X, Y>>,
    root: &DrawingArea<DB, plotters::coord::Shift>,
) -> anyhow::Result<()>
where
    DB: DrawingBackend + 'a,
    X: Ranged,
    Y: Ranged,
{
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(plotting)?;
    root.present().map_err(plotting)
}

/// plotters' errors carry the backend's error type; reports only need the text.
fn plotting(e: impl std::fmt::Debug) -> anyhow::Error {
    anyhow!("{e:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nines_axis_places_percentiles() {
        assert_eq!(nines(0.0), 0.0);
        assert!((nines(90.0) - 1.0).abs() < 1e-9);
        assert!((nines(99.9) - 3.0).abs() < 1e-9);
        assert_eq!(nines_label(0.0), "0%");
        assert_eq!(nines_label(1.0), "90%");
        assert_eq!(nines_label(2.0), "99%");
        assert_eq!(nines_label(4.0), "99.99%");
    }

    #[test]
    fn charts_are_svg_files_with_their_labels() {
        let dir = std::env::temp_dir().join(format!("loadtest-plot-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let curve: Vec<CurvePoint> = [(0.0, 50), (90.0, 80), (99.0, 120), (99.9, 900)]
            .iter()
            .map(|&(percentile, latency_us)| CurvePoint { percentile, latency_us })
            .collect();
        let p = dir.join("lat.svg");
        percentile_chart(&p, "latency", &[Series { label: "thread", points: &curve }]).unwrap();
        let svg = std::fs::read_to_string(&p).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("thread") && svg.contains("99.9%"));
        let t = dir.join("tp.svg");
        let pts = vec![(1000.0, 80, true), (5000.0, 200, true), (9000.0, 5000, false)];
        throughput_chart(&t, "sweep", &[Series { label: "redis", points: pts }], Some(1000))
            .unwrap();
        assert!(std::fs::read_to_string(&t).unwrap().contains("redis"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
