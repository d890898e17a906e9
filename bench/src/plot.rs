//! PNG plots (plotters, bitmap backend, text drawn with DejaVu Sans through ab_glyph).

use std::path::Path;

use anyhow::Context;
use plotters::prelude::*;

use crate::stats::Latency;

const FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

fn register_font() -> anyhow::Result<()> {
    static DONE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let ok = *DONE.get_or_init(|| {
        let Ok(bytes) = std::fs::read(FONT) else {
            return false;
        };
        let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
        plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).is_ok()
    });
    anyhow::ensure!(ok, "font {FONT} not usable");
    Ok(())
}

/// One line pair on a latency plot: a name and (clients, latency) points.
pub(crate) struct Series {
    pub(crate) name: String,
    pub(crate) points: Vec<(usize, Latency)>,
}

/// p50 and p99 latency (ms, log scale) against concurrent clients, per series.
pub(crate) fn latency_vs_clients(
    path: &Path,
    title: &str,
    series: &[Series],
) -> anyhow::Result<()> {
    register_font()?;
    let all = || series.iter().flat_map(|s| s.points.iter());
    let max_clients = all().map(|(c, _)| *c).max().unwrap_or(1) as f64;
    let max_ms = all().map(|(_, l)| l.p99_ms).fold(1.0, f64::max) * 1.5;
    let min_ms = all()
        .map(|(_, l)| l.p50_ms)
        .filter(|v| *v > 0.0)
        .fold(max_ms, f64::min)
        / 1.5;
    let root = BitMapBackend::new(path, (800, 500)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(
            (1.0..max_clients * 1.2).log_scale(),
            (min_ms.max(0.01)..max_ms).log_scale(),
        )?;
    chart
        .configure_mesh()
        .x_desc("concurrent clients")
        .y_desc("latency (ms)")
        .draw()?;
    const COLORS: [(RGBColor, RGBColor); 3] = [(RED, MAGENTA), (BLUE, CYAN), (GREEN, BLACK)];
    for (s, (c50, c99)) in series.iter().zip(COLORS.iter().cycle()) {
        for (q, color) in [("p50", *c50), ("p99", *c99)] {
            let points: Vec<(f64, f64)> = s
                .points
                .iter()
                .map(|(c, l)| {
                    let v = if q == "p50" { l.p50_ms } else { l.p99_ms };
                    (*c as f64, v)
                })
                .collect();
            chart
                .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))?
                .label(format!("{} {q}", s.name))
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
            chart.draw_series(
                points
                    .into_iter()
                    .map(|p| Circle::new(p, 3, color.filled())),
            )?;
        }
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    root.present().context("write png")?;
    Ok(())
}
