//! Leader election on a coordination.k8s.io Lease, so that with several operator
//! replicas exactly one reconciles (the chart turns it on when replicas > 1).

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::PostParams;
use kube::{Api, Client};

use crate::error::Result;

/// How long a lease holds without renewal.
pub const LEASE_DURATION: Duration = Duration::from_secs(15);
/// How often the holder renews (and a candidate retries).
pub const RENEW_EVERY: Duration = Duration::from_secs(5);

/// Which Lease to hold and as whom.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseConfig {
    /// Namespace of the Lease.
    pub namespace: String,
    /// Name of the Lease.
    pub name: String,
    /// This replica's identity (its pod name).
    pub identity: String,
}

/// What to do with the Lease as it is now.
#[derive(Debug, PartialEq, Eq)]
pub enum LeaseStep {
    /// There is none: create it, held by us.
    Create,
    /// We hold it: renew.
    Renew,
    /// Its holder stopped renewing: take it over.
    TakeOver,
    /// Someone else holds it.
    Wait,
}

/// Decide from the Lease (if any) and the clock.
pub fn step(lease: Option<&Lease>, me: &str, now: Timestamp) -> LeaseStep {
    let Some(spec) = lease.and_then(|l| l.spec.as_ref()) else {
        return if lease.is_some() {
            LeaseStep::TakeOver
        } else {
            LeaseStep::Create
        };
    };
    if spec.holder_identity.as_deref() == Some(me) {
        return LeaseStep::Renew;
    }
    let secs = i64::from(
        spec.lease_duration_seconds
            .unwrap_or(LEASE_DURATION.as_secs() as i32),
    );
    let expired = match &spec.renew_time {
        Some(t) => {
            t.0.checked_add(SignedDuration::from_secs(secs))
                .map_or(true, |end| end < now)
        }
        None => true,
    };
    if spec
        .holder_identity
        .as_deref()
        .unwrap_or_default()
        .is_empty()
        || expired
    {
        LeaseStep::TakeOver
    } else {
        LeaseStep::Wait
    }
}

fn held_spec(me: &str, now: Timestamp, previous: Option<&LeaseSpec>) -> LeaseSpec {
    let ours = previous.is_some_and(|p| p.holder_identity.as_deref() == Some(me));
    let transitions = previous.and_then(|p| p.lease_transitions).unwrap_or(0);
    LeaseSpec {
        holder_identity: Some(me.into()),
        lease_duration_seconds: Some(LEASE_DURATION.as_secs() as i32),
        acquire_time: if ours {
            previous.and_then(|p| p.acquire_time.clone())
        } else {
            Some(MicroTime(now))
        },
        renew_time: Some(MicroTime(now)),
        lease_transitions: Some(if ours || previous.is_none() {
            transitions
        } else {
            transitions + 1
        }),
        ..LeaseSpec::default()
    }
}

/// One election round: returns whether we hold the Lease afterwards.
pub async fn try_hold(client: &Client, cfg: &LeaseConfig) -> Result<bool> {
    let api: Api<Lease> = Api::namespaced(client.clone(), &cfg.namespace);
    let now = Timestamp::now();
    let current = api.get_opt(&cfg.name).await?;
    let result = match step(current.as_ref(), &cfg.identity, now) {
        LeaseStep::Wait => return Ok(false),
        LeaseStep::Create => {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(cfg.name.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(held_spec(&cfg.identity, now, None)),
            };
            api.create(&PostParams::default(), &lease).await.map(|_| ())
        }
        LeaseStep::Renew | LeaseStep::TakeOver => {
            // `current` carries its resourceVersion: a concurrent writer makes this a 409.
            let mut lease = current.expect("Renew and TakeOver come from an existing Lease");
            lease.spec = Some(held_spec(&cfg.identity, now, lease.spec.as_ref()));
            api.replace(&cfg.name, &PostParams::default(), &lease)
                .await
                .map(|_| ())
        }
    };
    match result {
        Ok(()) => Ok(true),
        Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Block until this replica holds the Lease, then keep renewing it in the
/// background; losing it ends the process so a fresh replica takes over cleanly.
pub async fn acquire_and_keep(client: Client, cfg: LeaseConfig) {
    loop {
        match try_hold(&client, &cfg).await {
            Ok(true) => break,
            Ok(false) => tracing::debug!(lease = %cfg.name, "another replica leads; standing by"),
            Err(e) => tracing::warn!(error = %e, "leader election failed; retrying"),
        }
        tokio::time::sleep(RENEW_EVERY).await;
    }
    tracing::info!(lease = %cfg.name, identity = %cfg.identity, "became leader");
    tokio::spawn(async move {
        let mut last_ok = tokio::time::Instant::now();
        loop {
            tokio::time::sleep(RENEW_EVERY).await;
            match try_hold(&client, &cfg).await {
                Ok(true) => last_ok = tokio::time::Instant::now(),
                Ok(false) => {
                    tracing::error!("lost the leader lease; exiting so another replica leads");
                    std::process::exit(1);
                }
                Err(e) if last_ok.elapsed() < LEASE_DURATION => {
                    tracing::warn!(error = %e, "lease renewal failed")
                }
                Err(e) => {
                    tracing::error!(error = %e, "could not renew the leader lease in time; exiting");
                    std::process::exit(1);
                }
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lease(holder: &str, renewed: Timestamp) -> Lease {
        Lease {
            metadata: ObjectMeta::default(),
            spec: Some(LeaseSpec {
                holder_identity: Some(holder.into()),
                lease_duration_seconds: Some(15),
                renew_time: Some(MicroTime(renewed)),
                ..LeaseSpec::default()
            }),
        }
    }

    #[test]
    fn election_steps() {
        let t0 = Timestamp::UNIX_EPOCH;
        let later = |s| t0.checked_add(SignedDuration::from_secs(s)).unwrap();
        assert_eq!(step(None, "a", t0), LeaseStep::Create);
        assert_eq!(
            step(Some(&lease("a", t0)), "a", later(100)),
            LeaseStep::Renew
        );
        assert_eq!(step(Some(&lease("b", t0)), "a", later(10)), LeaseStep::Wait);
        assert_eq!(
            step(Some(&lease("b", t0)), "a", later(16)),
            LeaseStep::TakeOver
        );
        assert_eq!(step(Some(&lease("", t0)), "a", t0), LeaseStep::TakeOver);
    }

    #[test]
    fn takeover_counts_a_transition_and_renewal_keeps_acquire_time() {
        let t0 = Timestamp::UNIX_EPOCH;
        let prev = held_spec("b", t0, None);
        let taken = held_spec("a", t0, Some(&prev));
        assert_eq!(
            (taken.holder_identity.as_deref(), taken.lease_transitions),
            (Some("a"), Some(1))
        );
        let t1 = t0.checked_add(SignedDuration::from_secs(5)).unwrap();
        let renewed = held_spec("a", t1, Some(&taken));
        assert_eq!(renewed.acquire_time, taken.acquire_time);
        assert_eq!(renewed.renew_time, Some(MicroTime(t1)));
        assert_eq!(renewed.lease_transitions, Some(1));
    }
}
