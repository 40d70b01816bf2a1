use super::*;

fn orgs() -> HashMap<OrgId, Organization> {
    let org = |id: &str, kind: OrgKind| {
        let id = OrgId::parse(id).unwrap();
        let org = Organization {
            id: id.clone(),
            name: id.to_string(),
            kind,
            country: "DE".to_owned(),
            sector: None,
            default_tlp: None,
            created_at: chrono::Utc::now(),
        };
        (id, org)
    };
    HashMap::from([
        org("bank-a", OrgKind::Partner),
        org("ncu-de", OrgKind::Agency),
    ])
}

fn document() -> Value {
    json!({
        "id": "mou-1", "title": "Bank A – NCU", "providers": ["bank-a"], "recipients": ["ncu-de"],
        "effective_from": "2026-01-01T00:00:00Z", "expires_at": "2027-01-01T00:00:00Z",
        "max_tlp": "amber", "content": ["indicators"], "purposes": ["investigation"], "retention_days": 30
    })
}

fn with(field: &str, value: Value) -> Value {
    let mut document = document();
    document[field] = value;
    document
}

fn pointers(result: Result<Mou, Invalid>) -> Vec<String> {
    let invalid = result.expect_err("the draft must be refused");
    invalid
        .issues
        .into_iter()
        .map(|issue| issue.pointer)
        .collect()
}

#[test]
fn a_valid_draft_is_canonical() {
    let validator = MouValidator::new().unwrap();
    let mou = validator
        .validate(
            with("indicator_types", json!(["ipv4", "HASH", "domain-name"]))
                .as_object()
                .cloned()
                .map(|mut map| {
                    map.insert("recipient_countries".into(), json!(["de", "Fr"]));
                    map.insert("categories".into(), json!(["Phishing"]));
                    map.insert("version".into(), json!(7));
                    Value::Object(map)
                })
                .unwrap(),
            None,
            &orgs(),
        )
        .unwrap();
    let only = |values: &[&str]| Scope::Only(values.iter().map(|v| (*v).to_owned()).collect());
    assert_eq!(
        mou.indicator_types,
        only(&["domain-name", "file", "ipv4-addr"])
    );
    assert_eq!(mou.recipient_countries, only(&["DE", "FR"]));
    assert_eq!(mou.categories, only(&["phishing"]));
    assert_eq!(mou.status, crate::MouStatus::Active);
    assert_eq!(mou.sectors, Scope::Any);
}

#[test]
fn every_refusal_names_its_field() {
    let validator = MouValidator::new().unwrap();
    let cases: Vec<(Value, &str)> = vec![
        (
            with("expires_at", json!("2025-01-01T00:00:00Z")),
            "/expires_at",
        ),
        (with("retention_days", json!(0)), "/retention_days"),
        (
            with("recipients", json!(["ncu-de", "nobody"])),
            "/recipients/1",
        ),
        (with("recipients", json!(["bank-a"])), "/recipients/0"),
        (with("providers", json!(["ncu-de"])), "/providers/0"),
        (
            with("indicator_types", json!(["ipv4", "bogus-type"])),
            "/indicator_types/1",
        ),
        (
            with("recipient_countries", json!(["Germany"])),
            "/recipient_countries/0",
        ),
        (
            with("recipient_countries", json!(["DE", "XX"])),
            "/recipient_countries/1",
        ),
        (with("purposes", json!(["curiosity"])), "/purposes/0"),
        (
            with("categories", json!(["phishing", "stuff"])),
            "/categories/1",
        ),
        (with("sectors", json!(["cloud-ish"])), "/sectors/0"),
        (with("max_tlp", json!("white")), "/max_tlp"),
        (with("content", json!(["everything"])), "/content/0"),
        (with("pii", json!("keep")), "/pii"),
        (with("attribution", json!("loud")), "/attribution"),
        (with("status", json!("pending")), "/status"),
        (with("unknown_field", json!(1)), "/"),
        (json!(["not", "an", "object"]), "/"),
    ];
    for (document, pointer) in cases {
        let found = pointers(validator.validate(document.clone(), None, &orgs()));
        assert_eq!(found, [pointer], "{document}");
    }
}

#[test]
fn the_id_comes_from_the_path() {
    let validator = MouValidator::new().unwrap();
    let id = MouId::parse("mou-1").unwrap();
    let mut document = document();
    document.as_object_mut().unwrap().remove("id");
    assert_eq!(
        validator.validate(document, Some(&id), &orgs()).unwrap().id,
        id
    );
    let other = MouId::parse("mou-2").unwrap();
    assert_eq!(
        pointers(validator.validate(self::document(), Some(&other), &orgs())),
        ["/id"]
    );
}
