//! SVG charts drawn with `plotters` (SVG backend only: text is left to the browser, so no system
//! fonts are needed).
//!
//! - [`percentile_chart`]: latency against percentile, one line per server, the percentile axis
//!   on HdrHistogram's log scale (each "nine" as wide as the one before).
//! - [`throughput_chart`]: p99 latency against achieved throughput over a sweep.

use crate::hist::CurvePoint;
use anyhow::anyhow;
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
    let max_ms = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.latency_us as f64 / 1e3))
        .fold(0.01f64, f64::max)
        * 1.05;
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(plotting)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(16)
        .margin_right(48)
        .x_label_area_size(48)
        .y_label_area_size(72)
        .build_cartesian_2d(0f64..max_x, 0f64..max_ms)
        .map_err(plotting)?;
    chart
        .configure_mesh()
        .x_desc("percentile (log scale of 1/(1-p))")
        .y_desc("latency (ms)")
        .x_labels(max_x as usize + 1)
        .x_label_formatter(&|x| nines_label(*x))
        .y_label_formatter(&|y| format!("{y:.2}"))
        .draw()
        .map_err(plotting)?;
    for (i, s) in series.iter().enumerate() {
        let line = s.points.iter().map(|p| (nines(p.percentile), p.latency_us as f64 / 1e3));
        add_line(&mut chart, s.label, PALETTE[i % PALETTE.len()], line)?;
    }
    finish(&mut chart, &root)
}

/// Draws p99 latency (log scale) against achieved throughput, one line per server, to `path`.
/// Points are `(achieved per second, p99 µs)`.
pub fn throughput_chart(
    path: &Path,
    title: &str,
    series: &[Series<'_, Vec<(f64, u64)>>],
) -> anyhow::Result<()> {
    let all = || series.iter().flat_map(|s| s.points.iter());
    let max_x = all().map(|p| p.0).fold(1.0f64, f64::max) * 1.05;
    let max_ms = all().map(|p| p.1 as f64 / 1e3).fold(0.1f64, f64::max) * 1.5;
    let min_ms = all().map(|p| p.1 as f64 / 1e3).fold(max_ms, f64::min).max(0.001) / 1.5;
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
        .x_desc("achieved throughput (per second)")
        .y_desc("p99 latency (ms, log scale)")
        .x_label_formatter(&|x| crate::report::fmt_rate(*x))
        .y_label_formatter(&|y| format!("{y:.3}"))
        .draw()
        .map_err(plotting)?;
    for (i, s) in series.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        let pts: Vec<(f64, f64)> = s.points.iter().map(|&(x, us)| (x, us as f64 / 1e3)).collect();
        add_line(&mut chart, s.label, color, pts.clone())?;
        chart
            .draw_series(pts.into_iter().map(|p| Circle::new(p, 4, color.filled())))
            .map_err(plotting)?;
    }
    finish(&mut chart, &root)
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

/// Draws the legend and writes the file.
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
        .position(SeriesLabelPosition::UpperLeft)
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
        let pts = vec![(1000.0, 80), (5000.0, 200), (9000.0, 5000)];
        throughput_chart(&t, "sweep", &[Series { label: "redis", points: pts }]).unwrap();
        assert!(std::fs::read_to_string(&t).unwrap().contains("redis"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
