//! When one customer's message goes, by the campaign's send-time policy: as soon as it is due,
//! at a fixed time of their local day, or at their best moment within a window (the send-time
//! model). Sends queued for a known moment (broadcasts, birthdays) take it when they are queued;
//! preview shows it.

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

use super::SendTime;
use crate::contact::Channel;
use crate::sto::decide::{Policy, decide};
use crate::sto::posterior::Posterior;
use crate::sto::window::Window;

/// A chosen moment and one line saying why.
#[derive(Clone, Debug, PartialEq)]
pub struct Moment {
    pub at: DateTime<Utc>,
    pub reason: String,
}

/// The moment `policy` picks for a send due at `due` by `channel` (how soon it is read decides
/// the best hour), for a customer in `tz`. `posterior` is asked for only by the optimised
/// policy (it costs a model evaluation). `key` names the send (customer, campaign, occurrence):
/// the same send always gets the same moment.
pub fn moment(
    policy: &SendTime,
    channel: Channel,
    due: DateTime<Utc>,
    tz: Tz,
    posterior: impl FnOnce() -> Posterior,
    key: &str,
) -> Moment {
    match policy {
        SendTime::Immediate => Moment { at: due, reason: "as soon as it is due".into() },
        SendTime::LocalTime { at } => match NaiveTime::parse_from_str(at, "%H:%M") {
            Ok(time) => {
                let at = next_local(due, time, tz);
                Moment { at, reason: format!("at {} in the customer's zone ({})", time.format("%H:%M"), tz.name()) }
            }
            // Validation refuses such a file; a stored one that slipped through goes when due.
            Err(_) => Moment { at: due, reason: format!("as soon as it is due (the local time {at:?} is not a time)") },
        },
        SendTime::Optimised { within_hours } => {
            let window = Window::new(due, due + Duration::hours(i64::from((*within_hours).max(1))));
            match window {
                Ok(window) => {
                    match decide(&posterior(), tz, &window, &[], due, &Policy::default().for_channel(channel), key) {
                        Ok(d) => Moment { at: d.send_at, reason: d.reason },
                        Err(e) => Moment { at: due, reason: format!("as soon as it is due ({e})") },
                    }
                }
                Err(e) => Moment { at: due, reason: format!("as soon as it is due ({e})") },
            }
        }
    }
}

/// The first instant at or after `from` whose local time in `tz` is `time`. A time a DST change
/// skips that day is taken an hour later; one it repeats, the first time.
pub fn next_local(from: DateTime<Utc>, time: NaiveTime, tz: Tz) -> DateTime<Utc> {
    let first_day = from.with_timezone(&tz).date_naive();
    (0..3)
        .filter_map(|d| first_day.checked_add_signed(Duration::days(d)))
        .filter_map(|day| local_instant(day, time, tz))
        .find(|at| *at >= from)
        .unwrap_or(from)
}

/// `time` on `day` in `tz`, as an instant (see [`next_local`] for DST changes).
pub fn local_instant(day: NaiveDate, time: NaiveTime, tz: Tz) -> Option<DateTime<Utc>> {
    let naive = day.and_time(time);
    tz.from_local_datetime(&naive)
        .earliest()
        .or_else(|| tz.from_local_datetime(&(naive + Duration::hours(1))).earliest())
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sto::posterior::History;
    use crate::sto::prior::Priors;

    fn flat() -> Posterior {
        let attention = crate::attention::Attention::default();
        Posterior::new(&attention, History::default(), None, &Priors::default(), Utc::now())
    }

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn a_local_time_is_the_next_one_in_the_customers_zone_across_dst() {
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        let ten = SendTime::LocalTime { at: "10:00".into() };
        // Summer time: 10:00 in Berlin is 08:00 UTC.
        let m = moment(&ten, Channel::Email, utc("2026-07-01T06:00:00Z"), berlin, flat, "k");
        assert_eq!(m.at, utc("2026-07-01T08:00:00Z"));
        // Past today's 10:00: tomorrow's.
        assert_eq!(
            moment(&ten, Channel::Email, utc("2026-07-01T09:00:00Z"), berlin, flat, "k").at,
            utc("2026-07-02T08:00:00Z")
        );
        // The night clocks go back (25 October 2026): 10:00 is then 09:00 UTC.
        assert_eq!(
            moment(&ten, Channel::Email, utc("2026-10-25T01:00:00Z"), berlin, flat, "k").at,
            utc("2026-10-25T09:00:00Z")
        );
        // 02:30 does not exist on 29 March 2026 in Berlin: an hour later, 03:30 CEST.
        let skipped = SendTime::LocalTime { at: "02:30".into() };
        assert_eq!(
            moment(&skipped, Channel::Email, utc("2026-03-28T23:00:00Z"), berlin, flat, "k").at,
            utc("2026-03-29T01:30:00Z")
        );
    }

    #[test]
    fn immediate_is_the_due_moment_and_optimised_stays_in_its_window_the_same_every_time() {
        let ny: Tz = "America/New_York".parse().unwrap();
        let due = utc("2026-12-01T14:00:00Z");
        assert_eq!(moment(&SendTime::Immediate, Channel::Email, due, ny, flat, "k").at, due);
        let policy = SendTime::Optimised { within_hours: 12 };
        let m = moment(&policy, Channel::Email, due, ny, flat, "c-1#sale#broadcast");
        assert!(m.at >= due && m.at < due + Duration::hours(12), "{m:?}");
        assert!(!m.reason.is_empty());
        assert_eq!(moment(&policy, Channel::Email, due, ny, flat, "c-1#sale#broadcast"), m);
    }
}
