//! The SVG chart: one panel of horizontal bars per (workload, keys,
//! threads), snapmap in red, peers in blue, floors in grey.

use std::path::Path;

use plotters::prelude::*;

use crate::report::{Metric, Row};

const WIDTH: u32 = 900;
const BAR: u32 = 22;
const PANEL_EXTRA: u32 = 70;

struct Panel<'a> {
    title: String,
    metric: Metric,
    rows: Vec<&'a Row>,
}

fn panels(rows: &[Row]) -> Vec<Panel<'_>> {
    let mut panels: Vec<Panel<'_>> = Vec::new();
    for row in rows.iter().filter(|r| r.value.is_some()) {
        let title = format!("{} {} ({} thr)", row.workload, row.keys, row.threads);
        match panels.iter_mut().find(|p| p.title == title) {
            Some(panel) => panel.rows.push(row),
            None => panels.push(Panel {
                title,
                metric: row.metric,
                rows: vec![row],
            }),
        }
    }
    panels
}

pub fn write_svg(path: &Path, rows: &[Row]) -> Result<(), String> {
    let panels = panels(rows);
    if panels.is_empty() {
        return Ok(());
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    }
    let heights: Vec<u32> = panels
        .iter()
        .map(|p| p.rows.len() as u32 * BAR + PANEL_EXTRA)
        .collect();
    let root = SVGBackend::new(path, (WIDTH, heights.iter().sum())).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let mut rest = root;
    for (panel, height) in panels.iter().zip(heights) {
        let (area, below) = rest.split_vertically(height);
        draw_panel(&area, panel).map_err(|e| format!("{}: {e}", panel.title))?;
        rest = below;
    }
    rest.present().map_err(|e| e.to_string())
}

fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    panel: &Panel<'_>,
) -> Result<(), String>
where
    DB::ErrorType: 'static,
{
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    let (scale, unit) = match panel.metric {
        Metric::OpsPerSec => (1e-6, "million ops/s, higher is better"),
        Metric::NanosPerCommit => (1e-3, "µs per commit, lower is better"),
    };
    let values: Vec<f64> = panel
        .rows
        .iter()
        .map(|r| r.value.unwrap_or(0.0) * scale)
        .collect();
    let max = values.iter().copied().fold(0.0, f64::max).max(1e-9);
    let names: Vec<&str> = panel.rows.iter().map(|r| r.map).collect();
    let n = names.len() as i32;
    let mut chart = ChartBuilder::on(area)
        .caption(format!("{}: {unit}", panel.title), ("sans-serif", 15))
        .margin(8)
        .x_label_area_size(22)
        .y_label_area_size(130)
        .build_cartesian_2d(0.0..max * 1.18, (0..n).into_segmented())
        .map_err(err)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(names.len())
        .y_label_formatter(&|y| match y {
            SegmentValue::CenterOf(i) => names
                .get((n - 1 - *i) as usize)
                .map_or(String::new(), |s| s.to_string()),
            _ => String::new(),
        })
        .x_labels(6)
        .draw()
        .map_err(err)?;
    let color = |name: &str| {
        if name.starts_with("snapmap") {
            RGBColor(214, 39, 40)
        } else if name.starts_with("floor-") {
            RGBColor(150, 150, 150)
        } else {
            RGBColor(31, 119, 180)
        }
    };
    chart
        .draw_series(
            values
                .iter()
                .zip(&names)
                .enumerate()
                .map(|(i, (&v, name))| {
                    // First map at the top.
                    let i = n - 1 - i as i32;
                    let (low, high) = (SegmentValue::Exact(i), SegmentValue::Exact(i + 1));
                    let mut bar =
                        Rectangle::new([(0.0, low), (v, high)], color(name).mix(0.85).filled());
                    bar.set_margin(3, 3, 0, 0);
                    bar
                }),
        )
        .map_err(err)?;
    chart
        .draw_series(values.iter().enumerate().map(|(i, &v)| {
            let label = if v >= 100.0 {
                format!("{v:.0}")
            } else if v >= 1.0 {
                format!("{v:.1}")
            } else {
                format!("{v:.3}")
            };
            Text::new(
                label,
                (v + max * 0.01, SegmentValue::CenterOf(n - 1 - i as i32)),
                ("sans-serif", 12),
            )
        }))
        .map_err(err)?;
    Ok(())
}
