//! Ramp: fan-out at rising rates in one world until delivery p99 passes a bound (or
//! anything is lost or fails); the last rate that stayed within is the knee.

use std::time::Duration;

use serde::Serialize;

use crate::client::Targets;
use crate::modes::fanout::{PhaseReport, Shape, World};
use crate::report::{Report, ms, row};

/// The rates a ramp tries: `start`, `start + step`, … up to `max`.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Steps {
    pub start: f64,
    pub step: f64,
    pub max: f64,
    #[serde(skip)]
    pub each: Duration,
    #[serde(skip)]
    pub drain: Duration,
}

#[derive(Debug, Serialize)]
pub struct RampReport {
    pub shape: Shape,
    pub steps_tried: Steps,
    pub bound_ms: f64,
    pub knee_rate: Option<f64>,
    pub steps: Vec<PhaseReport>,
}

impl Report for RampReport {
    fn title(&self) -> String {
        format!(
            "ramp: {} chats × {} people, {} subscribers",
            self.shape.chats, self.shape.participants, self.shape.subscribers
        )
    }

    fn rows(&self) -> Vec<(String, String)> {
        vec![
            row("bound (delivery p99)", ms(self.bound_ms)),
            row(
                "knee",
                self.knee_rate
                    .map_or("below the first step".into(), |r| format!("{r:.0} msg/s")),
            ),
        ]
    }
}

pub async fn run(
    targets: &Targets,
    tag: &str,
    shape: Shape,
    steps: Steps,
    bound: Duration,
) -> anyhow::Result<RampReport> {
    anyhow::ensure!(
        steps.max <= 100_000.0 && steps.step > 0.0,
        "a positive step, up to 100,000 msg/s"
    );
    let world = World::build(targets, tag, shape.clone()).await?;
    let bound_ms = bound.as_secs_f64() * 1000.0;
    let mut report = RampReport {
        shape,
        steps_tried: steps,
        bound_ms,
        knee_rate: None,
        steps: Vec::new(),
    };
    let mut rate = steps.start;
    while rate <= steps.max {
        let phase = world.send_phase(rate, steps.each, steps.drain).await;
        let ok = phase.latency_ms.p99 <= bound_ms && phase.lost == 0 && phase.failed_sends == 0;
        eprintln!(
            "{rate:>8.0} msg/s: p99 {:.2} ms, lost {}, {}",
            phase.latency_ms.p99,
            phase.lost,
            if ok { "ok" } else { "over" }
        );
        report.steps.push(phase);
        if !ok {
            break;
        }
        report.knee_rate = Some(rate);
        rate += steps.step;
    }
    Ok(report)
}
