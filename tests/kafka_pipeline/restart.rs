//! `accord up --bus kafka://…` (the default: dynamic group membership, a 10 s session) killed with SIGKILL right after
//! reports were acknowledged and restarted at once, three times in a row (issue 18 item 4). A restarted consumer that
//! joins its group while its dead predecessor is still a member waits for a rebalance — and on tansu, which expires a
//! dead member only when another request reaches its group, could wait for good (nothing searchable after 90 s).
//! The restarted process finds its predecessor's liveness mark and joins only once that predecessor's session is
//! over (`accord_bus::kafka::MemberIdentity`, decision 0078): every acknowledged report must be searchable within
//! the 30 s of each restart.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};

use crate::cluster::{Cluster, enabled, indicator, report};

/// Restarts in a row.
const RESTARTS: usize = 3;

/// Reports acknowledged before each kill.
const REPORTS_PER_ROUND: usize = 30;

/// How long after a restart every acknowledged report may take to be searchable: twice the 30 s, as a hang
/// guard (the failure this test guards against never recovers); the time it took, which the issue wants within 30 s
/// (the wait for the dead predecessor's session, about 12 s, included), is printed.
const GUARD: Duration = Duration::from_secs(60);

/// Waits until the agency finds report `n`'s indicator; fails after `deadline`.
async fn wait_searchable(cluster: &Cluster, agency: &str, n: usize, deadline: Instant) {
    loop {
        let (status, body) = cluster
            .call(
                "search",
                Method::GET,
                &format!(
                    "/v1/indicators/{}?purpose=investigation&case=RESTART",
                    indicator(n)
                ),
                agency,
                None,
            )
            .await;
        if status == StatusCode::OK {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "report {n} is not searchable {} s after the restart ({status}: {body}); log:\n{}",
            GUARD.as_secs(),
            cluster.logs()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn accord_up_killed_and_restarted_at_once_resumes_every_time() {
    if !enabled() {
        return;
    }
    let _one = crate::ONE_AT_A_TIME.lock().await;
    let mut cluster = Cluster::start_up().await;
    let (partner, agency) = cluster.world().await;
    let mut accepted = Vec::new();
    for round in 0..RESTARTS {
        for n in round * REPORTS_PER_ROUND..(round + 1) * REPORTS_PER_ROUND {
            let (status, body) = cluster
                .call(
                    "gateway",
                    Method::POST,
                    "/v1/reports",
                    &partner,
                    Some(report(n)),
                )
                .await;
            assert_eq!(status, StatusCode::ACCEPTED, "{body}");
            accepted.push(n);
        }
        cluster.kill("up").await;
        let restarted = Instant::now();
        cluster.spawn("up").await;
        let ready = restarted.elapsed();
        for n in &accepted {
            wait_searchable(&cluster, &agency, *n, restarted + GUARD).await;
        }
        eprintln!(
            "restart {}: ready after {} ms; {} acknowledged reports searchable {} ms after the restart",
            round + 1,
            ready.as_millis(),
            accepted.len(),
            restarted.elapsed().as_millis()
        );
    }
    cluster.stop_all().await;
}
