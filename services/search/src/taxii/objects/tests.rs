use super::*;

fn object(at_secs: i64, id: &str, kind: &str) -> StixObject {
    let at = chrono::DateTime::from_timestamp(at_secs, 0).unwrap();
    StixObject {
        id: id.to_owned(),
        kind: kind.to_owned(),
        date_added: at,
        version: at,
        body: json!({ "id": id }),
    }
}

fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .collect()
}

#[test]
fn paging_walks_every_object_once_in_order() {
    let objects: Vec<StixObject> = (0..7)
        .map(|index| object(100 + index / 2, &format!("indicator--{index}"), "indicator"))
        .collect();
    let mut seen = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let mut pairs = vec![("limit".to_owned(), "3".to_owned())];
        if let Some(next) = &next {
            pairs.push(("next".to_owned(), next.clone()));
        }
        let selection = parse_selection(&pairs).unwrap();
        let (page, more) = selection.page(&objects);
        seen.extend(page.iter().map(|object| object.id.clone()));
        if !more {
            break;
        }
        next = Some(encode_cursor(page.last().unwrap()));
    }
    let expected: Vec<String> = objects.iter().map(|object| object.id.clone()).collect();
    assert_eq!(seen, expected);
}

#[test]
fn filters_select_by_date_type_id_and_version() {
    let objects = vec![
        object(100, "indicator--a", "indicator"),
        object(200, "report--b", "report"),
        object(300, "ipv4-addr--c", "ipv4-addr"),
    ];
    let ids = |pairs: &[(&str, &str)]| -> Vec<String> {
        let selection = parse_selection(&params(pairs)).unwrap();
        selection
            .page(&objects)
            .0
            .iter()
            .map(|object| object.id.clone())
            .collect()
    };
    let after = chrono::DateTime::from_timestamp(100, 0)
        .unwrap()
        .to_rfc3339();
    assert_eq!(
        ids(&[("added_after", &after)]),
        ["report--b", "ipv4-addr--c"]
    );
    assert_eq!(
        ids(&[("match[type]", "report,ipv4-addr")]),
        ["report--b", "ipv4-addr--c"]
    );
    assert_eq!(ids(&[("match[id]", "indicator--a")]), ["indicator--a"]);
    assert!(ids(&[("match[spec_version]", "2.0")]).is_empty());
    assert_eq!(ids(&[("match[spec_version]", "2.0,2.1")]).len(), 3);
    let version = chrono::DateTime::from_timestamp(200, 0)
        .unwrap()
        .to_rfc3339();
    assert_eq!(ids(&[("match[version]", &version)]), ["report--b"]);
    assert_eq!(ids(&[("match[version]", "last")]).len(), 3);
}

#[test]
fn bad_parameters_are_refused() {
    for pairs in [
        &[("limit", "0")][..],
        &[("limit", "many")],
        &[("added_after", "yesterday")],
        &[("next", "garbage!")],
        &[("match[version]", "sometime")],
    ] {
        assert!(
            matches!(
                parse_selection(&params(pairs)),
                Err(TaxiiError::BadRequest(_))
            ),
            "{pairs:?}"
        );
    }
}
