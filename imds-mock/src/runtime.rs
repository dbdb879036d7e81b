//! What changes while the mock runs, beyond the configuration: launch time, the current
//! public IP, scheduled spot notices, rebalance recommendations and maintenance events,
//! and the JSON documents IMDS serves for them. Pure data; the state module owns the lock.

use chrono::{DateTime, Duration, Utc};
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::creds::{json_string, timestamp};

/// A spot interruption notice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SpotNotice {
    pub action: String,
    /// When the notice appears in metadata.
    pub notice_at: DateTime<Utc>,
    /// The `time` of the action (notice + 2 min).
    pub action_time: DateTime<Utc>,
}

/// State of a maintenance event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventState {
    Active,
    Completed,
    Canceled,
}

/// A scheduled maintenance event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MaintenanceEvent {
    pub event_id: String,
    pub code: String,
    pub description: String,
    pub not_before: DateTime<Utc>,
    pub not_after: DateTime<Utc>,
    /// `Canceled` once cancelled; `Active` events become completed when `not_after` passes.
    pub state: EventState,
}

/// An interface attached while the instance runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Attached {
    pub config: crate::config::InterfaceConfig,
    /// When it appears in the metadata.
    pub visible_at: DateTime<Utc>,
}

/// The instance's changing facts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Runtime {
    /// When the current instance (re)started (`pendingTime`).
    pub launch_time: DateTime<Utc>,
    /// Public IPv4 now (an Elastic IP wins).
    pub public_ip: Option<String>,
    pub stopped: bool,
    pub spot: Option<SpotNotice>,
    pub rebalance_at: Option<DateTime<Utc>>,
    pub events: Vec<MaintenanceEvent>,
    /// Interfaces attached through the control API, visible or still propagating.
    pub attached: Vec<Attached>,
}

impl Runtime {
    /// The runtime state at start-up, with the notices the configuration schedules.
    pub fn new(config: &Config, now: DateTime<Utc>) -> Self {
        let mut rt = Self {
            launch_time: crate::creds::whole_second(now),
            public_ip: config
                .elastic_ip
                .clone()
                .or_else(|| config.public_ip.clone()),
            stopped: false,
            spot: None,
            rebalance_at: None,
            events: Vec::new(),
            attached: Vec::new(),
        };
        if let Some(spot) = &config.spot {
            rt.schedule_spot(&spot.action, now + secs(spot.delay_secs));
        }
        if let Some(delay) = config.rebalance_delay_secs {
            rt.rebalance_at = Some(now + secs(delay));
        }
        for e in &config.maintenance_events {
            rt.schedule_event(
                &e.code,
                &e.description,
                now + secs(e.not_before_secs),
                secs(e.window_secs),
            );
        }
        rt
    }

    /// Schedule a spot interruption notice appearing at `at`.
    pub fn schedule_spot(&mut self, action: &str, at: DateTime<Utc>) {
        let at = crate::creds::whole_second(at);
        self.spot = Some(SpotNotice {
            action: action.to_string(),
            notice_at: at,
            action_time: at + Duration::minutes(2),
        });
    }

    /// Schedule a maintenance event; returns its id.
    pub fn schedule_event(
        &mut self,
        code: &str,
        description: &str,
        not_before: DateTime<Utc>,
        window: Duration,
    ) -> String {
        let event_id = format!("instance-event-{}", random_hex(17));
        let not_before = crate::creds::whole_second(not_before);
        self.events.push(MaintenanceEvent {
            event_id: event_id.clone(),
            code: code.to_string(),
            description: description.to_string(),
            not_before,
            not_after: not_before + window,
            state: EventState::Active,
        });
        event_id
    }

    /// Cancel a scheduled event; false if no such active event.
    pub fn cancel_event(&mut self, event_id: &str) -> bool {
        match self
            .events
            .iter_mut()
            .find(|e| e.event_id == event_id && e.state == EventState::Active)
        {
            Some(e) => {
                e.state = EventState::Canceled;
                true
            }
            None => false,
        }
    }

    /// The spot notice if it is visible at `now`.
    pub fn spot_visible(&self, now: DateTime<Utc>) -> Option<&SpotNotice> {
        self.spot.as_ref().filter(|s| now >= s.notice_at)
    }

    /// Whether a rebalance recommendation is visible at `now`.
    pub fn rebalance_visible(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.rebalance_at.filter(|at| now >= *at)
    }

    /// The next moment at which what metadata shows changes by itself (a notice appears,
    /// an event completes).
    pub fn next_change(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let spot = self.spot.as_ref().map(|s| s.notice_at);
        let events = self
            .events
            .iter()
            .filter(|e| e.state == EventState::Active)
            .map(|e| e.not_after);
        let attached = self.attached.iter().map(|a| a.visible_at);
        spot.into_iter()
            .chain(self.rebalance_at)
            .chain(events)
            .chain(attached)
            .filter(|t| *t > now)
            .min()
    }

    /// `events/maintenance/scheduled` (active, not yet past) and `…/history` documents.
    pub fn event_documents(&self, now: DateTime<Utc>) -> (String, String) {
        let mut scheduled = Vec::new();
        let mut history = Vec::new();
        for e in &self.events {
            match e.state {
                EventState::Active if now < e.not_after => {
                    scheduled.push(event_json(e, "active", &e.description));
                }
                EventState::Active | EventState::Completed => {
                    let d = format!("[Completed] {}", e.description);
                    history.push(event_json(e, "completed", &d));
                }
                EventState::Canceled => {
                    let d = format!("[Canceled] {}", e.description);
                    history.push(event_json(e, "canceled", &d));
                }
            }
        }
        (json_array(&scheduled), json_array(&history))
    }
}

fn secs(value: u64) -> Duration {
    Duration::seconds(i64::try_from(value).unwrap_or(i64::MAX / 2_000_000))
}

/// `21 Jan 2019 09:00:43 GMT`, the date form of event documents.
pub fn event_date(t: DateTime<Utc>) -> String {
    t.format("%-d %b %Y %H:%M:%S GMT").to_string()
}

fn event_json(e: &MaintenanceEvent, state: &str, description: &str) -> String {
    format!(
        "{{\n  \"NotBefore\" : {},\n  \"Code\" : {},\n  \"Description\" : {},\n  \"EventId\" : {},\n  \"NotAfter\" : {},\n  \"State\" : {}\n}}",
        json_string(&event_date(e.not_before)),
        json_string(&e.code),
        json_string(description),
        json_string(&e.event_id),
        json_string(&event_date(e.not_after)),
        json_string(state),
    )
}

fn json_array(items: &[String]) -> String {
    if items.is_empty() {
        "[ ]".into()
    } else {
        format!("[ {} ]", items.join(", "))
    }
}

/// `spot/instance-action`, compact JSON.
pub fn spot_document(s: &SpotNotice) -> String {
    format!(
        "{{\"action\": {}, \"time\": {}}}",
        json_string(&s.action),
        json_string(&timestamp(s.action_time))
    )
}

/// `events/recommendations/rebalance`.
pub fn rebalance_document(at: DateTime<Utc>) -> String {
    format!("{{\"noticeTime\": {}}}", json_string(&timestamp(at)))
}

/// `len` random lower-case hex digits.
pub fn random_hex(len: usize) -> String {
    let mut rng = rand::thread_rng();
    (0..len)
        .map(|_| char::from(b"0123456789abcdef"[rng.gen_range(0..16)]))
        .collect()
}

/// A random public IPv4 in a range EC2 hands out.
pub fn random_public_ip() -> String {
    let mut rng = rand::thread_rng();
    format!(
        "{}.{}.{}.{}",
        [3, 18, 34, 44, 52, 54][rng.gen_range(0..6)],
        rng.gen_range(0..=255),
        rng.gen_range(0..=255),
        rng.gen_range(1..=254)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn event_dates_use_the_imds_form() {
        assert_eq!(
            event_date(t("2019-01-21T09:00:43Z")),
            "21 Jan 2019 09:00:43 GMT"
        );
        assert_eq!(
            event_date(t("2019-01-01T09:00:43Z")),
            "1 Jan 2019 09:00:43 GMT"
        );
    }

    #[test]
    fn spot_appears_at_its_time() {
        let mut rt = Runtime::new(&Config::default(), t("2026-01-01T00:00:00Z"));
        rt.schedule_spot("stop", t("2026-01-01T00:01:00Z"));
        assert!(rt.spot_visible(t("2026-01-01T00:00:59Z")).is_none());
        let s = rt.spot_visible(t("2026-01-01T00:01:00Z")).unwrap();
        assert_eq!(
            spot_document(s),
            r#"{"action": "stop", "time": "2026-01-01T00:03:00Z"}"#
        );
        assert_eq!(
            rt.next_change(t("2026-01-01T00:00:00Z")),
            Some(t("2026-01-01T00:01:00Z"))
        );
    }

    #[test]
    fn events_move_to_history() {
        let mut rt = Runtime::new(&Config::default(), t("2026-01-01T00:00:00Z"));
        let id = rt.schedule_event(
            "system-reboot",
            "scheduled reboot",
            t("2026-01-02T00:00:00Z"),
            Duration::seconds(1000),
        );
        let (s, h) = rt.event_documents(t("2026-01-01T00:00:00Z"));
        let s: serde_json::Value = serde_json::from_str(&s).unwrap();
        assert_eq!(s[0]["EventId"], id.as_str());
        assert_eq!(s[0]["NotBefore"], "2 Jan 2026 00:00:00 GMT");
        assert_eq!(s[0]["State"], "active");
        assert_eq!(h, "[ ]");
        let (s, h) = rt.event_documents(t("2026-01-03T00:00:00Z"));
        assert_eq!(s, "[ ]");
        let h: serde_json::Value = serde_json::from_str(&h).unwrap();
        assert_eq!(h[0]["Description"], "[Completed] scheduled reboot");
        assert!(rt.cancel_event(&id));
        let (_, h) = rt.event_documents(t("2026-01-01T00:00:00Z"));
        assert!(h.contains("[Canceled] scheduled reboot"));
    }
}
