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
