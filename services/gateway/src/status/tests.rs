use super::*;

#[test]
fn status_only_moves_forward_and_rejection_is_terminal() {
    let accepted = merge(
        None,
        Change::Accepted {
            id: "r".into(),
            partner: "p".into(),
            title: "t".into(),
            body_sha256: "h".into(),
            received_at: "t0".into(),
            objects: Vec::new(),
            warnings: Vec::new(),
        },
    );
    assert_eq!(accepted.status, "accepted");
    let released = merge(
        Some(accepted),
        Change::Released {
            id: "r".into(),
            partner: "p".into(),
            indicators: 2,
            released_to: vec!["a".into(), "b".into()],
            at: "t1".into(),
            trigger: "report received".into(),
            revoked_from: Vec::new(),
        },
    );
    assert_eq!(released.status, "released");
    let late = merge(
        Some(released.clone()),
        Change::Normalized {
            id: "r".into(),
            partner: "p".into(),
            indicators: 2,
        },
    );
    assert_eq!(late.status, "released");
    assert_eq!(late.body_sha256, "h");

    let narrowed = merge(
        Some(late),
        Change::Released {
            id: "r".into(),
            partner: "p".into(),
            indicators: 2,
            released_to: vec!["b".into()],
            at: "t2".into(),
            trigger: "mou m v2 (active)".into(),
            revoked_from: Vec::new(),
        },
    );
    assert_eq!(narrowed.released_to, vec!["b".to_owned()]);
    assert_eq!(
        narrowed.withdrawals,
        vec![Withdrawal {
            agency: "a".into(),
            at: "t2".into(),
            reason: "mou m v2 (active)".into()
        }]
    );
    let withdrawn = merge(
        Some(narrowed),
        Change::Released {
            id: "r".into(),
            partner: "p".into(),
            indicators: 2,
            released_to: vec![],
            at: "t3".into(),
            trigger: "mou m v3 (revoked)".into(),
            revoked_from: Vec::new(),
        },
    );
    assert_eq!(withdrawn.status, "normalized");
    assert_eq!(withdrawn.withdrawals.len(), 2);
    assert_eq!(withdrawn.withdrawals[1].agency, "b");
}

/// A report's version on `reports.raw`, as a gateway publishes it, carrying what it counts against the quota.
fn raw_delivery(id: &str, revision: Option<accord_domain::Revision>, quota_bytes: u64) -> Delivery {
    let raw = serde_json::json!({
        "id": id,
        "partner": "bank-a",
        "received_at": chrono::Utc::now().to_rfc3339(),
        "format": "native",
        "payload": { "title": "t" },
        "revision": revision,
    });
    let mut record = accord_runtime::stage::json_record(id, &raw).unwrap();
    record.headers.push((
        topics::HEADER_QUOTA_BYTES.to_owned(),
        quota_bytes.to_string(),
    ));
    Delivery {
        topic: topics::REPORTS_RAW.to_owned(),
        position: accord_bus::Position {
            partition: 0,
            offset: 0,
        },
        record,
    }
}

#[tokio::test]
async fn the_follower_counts_each_version_sent_through_any_gateway_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = StatusStore::open(dir.path()).unwrap();
    let admission = Admission::new(10, 1 << 20, 1);
    let mut follower = Follower::new(store.clone(), admission, topics::REPORTS_RAW, None);
    let amended = accord_domain::Revision {
        version: 2,
        by: "tok".to_owned(),
        at: chrono::Utc::now(),
    };
    let batch = [
        raw_delivery("report--1", None, 1_000),
        raw_delivery("report--2", None, 300),
        raw_delivery("report--1", Some(amended), 50),
    ];
    follower.process(&batch).await.unwrap();
    // Delivered again (at least once): nothing counts twice.
    follower.process(&batch).await.unwrap();
    let today = chrono::Utc::now().date_naive();
    assert_eq!(store.charged("bank-a", today).unwrap(), 1_350);
}
