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

/// Horizontal bars, one per `(label, value)`, top to bottom in the order given, each labelled
/// with its name and value.
pub(crate) fn bars(
    path: &Path,
    title: &str,
    x_desc: &str,
    bars: &[(String, f64)],
) -> anyhow::Result<()> {
    register_font()?;
    anyhow::ensure!(!bars.is_empty(), "nothing to plot");
    let max = bars.iter().map(|(_, v)| *v).fold(1.0, f64::max) * 1.45;
    let n = bars.len() as f64;
    let height = 90 + 34 * bars.len() as u32;
    let root = BitMapBackend::new(path, (900, height)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(10)
        .build_cartesian_2d(0.0..max, n..0.0)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .disable_y_axis()
        .x_desc(x_desc)
        .draw()?;
    const COLORS: [RGBColor; 4] = [BLUE, RED, GREEN, MAGENTA];
    let mut kinds: Vec<&str> = Vec::new();
    for (i, (label, v)) in bars.iter().enumerate() {
        // Bars of the same kind (the text after the last ", ") share a colour.
        let kind = label.rsplit(", ").next().unwrap_or(label);
        let k = kinds.iter().position(|x| *x == kind).unwrap_or_else(|| {
            kinds.push(kind);
            kinds.len() - 1
        });
        let y = i as f64;
        let color = COLORS[k % COLORS.len()];
        chart.draw_series(std::iter::once(Rectangle::new(
            [(0.0, y + 0.15), (*v, y + 0.85)],
            color.mix(0.6).filled(),
        )))?;
        chart.draw_series(std::iter::once(Text::new(
            format!("{label}: {v:.1}"),
            (v + max * 0.01, y + 0.3),
            ("sans-serif", 14),
        )))?;
    }
    root.present().context("write png")?;
    Ok(())
}

/// The distribution of `values` (ms) as a step CDF: the share of samples at or below each
/// value, with the p50 and the largest sample marked.
pub(crate) fn cdf(path: &Path, title: &str, x_desc: &str, values: &[f64]) -> anyhow::Result<()> {
    register_font()?;
    anyhow::ensure!(!values.is_empty(), "nothing to plot");
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len() as f64;
    let (lo, hi) = (v[0] * 0.9, v[v.len() - 1] * 1.1);
    let root = BitMapBackend::new(path, (800, 450)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(lo.max(0.0)..hi, 0.0..100.0)?;
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc("% of trials at or below")
        .draw()?;
    let mut steps = vec![(lo.max(0.0), 0.0)];
    for (i, x) in v.iter().enumerate() {
        steps.push((*x, i as f64 / n * 100.0));
        steps.push((*x, (i + 1) as f64 / n * 100.0));
    }
    steps.push((hi, 100.0));
    chart.draw_series(LineSeries::new(steps, BLUE.stroke_width(2)))?;
    chart.draw_series(
        v.iter()
            .enumerate()
            .map(|(i, x)| Circle::new((*x, (i + 1) as f64 / n * 100.0), 3, BLUE.filled())),
    )?;
    let p50 = v[((n * 0.5).ceil() as usize).clamp(1, v.len()) - 1];
    let worst = v[v.len() - 1];
    for (label, x) in [("p50", p50), ("worst", worst)] {
        chart.draw_series(LineSeries::new(
            [(x, 0.0), (x, 100.0)],
            RED.mix(0.5).stroke_width(1),
        ))?;
        chart.draw_series(std::iter::once(Text::new(
            format!("{label} {x:.0}"),
            (x, 8.0),
            ("sans-serif", 14),
        )))?;
    }
    root.present().context("write png")?;
    Ok(())
}
