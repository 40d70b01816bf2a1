//! A stage replica lost for good: killed with SIGKILL and never restarted (a host gone, a scale-down by crash). Its
//! share of the partitions must move to the replicas left once its session is over, so that every report posted
//! afterwards is processed. Two normalizers share four partitions; one is killed; sixteen reports follow.

use crate::{
    cluster::{Cluster, enabled},
    owned::{report, submit, wait_lookup},
};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replica_lost_for_good_leaves_no_partition_behind() {
    if !enabled() {
        return;
    }
    let _one = crate::ONE_AT_A_TIME.lock().await;
    let mut cluster = Cluster::start_with_partitions(4).await;
    cluster.spawn_replica("normalizer-2", "normalizer").await;
    let (partner, agency) = cluster.world().await;
    // Both replicas normalize before one is lost.
    let mut n = 0;
    loop {
        let value = format!("before{n}.lost.example");
        submit(
            &cluster,
            &partner,
            report(&format!("Before {n}"), &[&value]),
        )
        .await;
        wait_lookup(&cluster, &agency, &value, true).await;
        n += 1;
        let (first, second) = (
            cluster.received("normalizer", "normalizer").await,
            cluster.received("normalizer-2", "normalizer").await,
        );
        if first > 0.0 && second > 0.0 {
            break;
        }
        assert!(
            n < 40,
            "one normalizer never got a partition; logs:\n{}",
            cluster.logs()
        );
    }
    cluster.kill("normalizer-2").await;
    let values: Vec<String> = (0..16).map(|n| format!("after{n}.lost.example")).collect();
    for (n, value) in values.iter().enumerate() {
        submit(&cluster, &partner, report(&format!("After {n}"), &[value])).await;
    }
    for value in &values {
        wait_lookup(&cluster, &agency, value, true).await;
    }
    cluster.stop_all().await;
}
