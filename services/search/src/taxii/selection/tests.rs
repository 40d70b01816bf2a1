use serde_json::json;

use super::*;

fn object(at_secs: i64, id: &str, kind: &str) -> Placed {
    let at = chrono::DateTime::from_timestamp(at_secs, 0).unwrap();
    Placed {
        position: Position {
            at,
            group: format!("view--{at_secs}"),
            object: id.to_owned(),
        },
        object: StixObject {
            id: id.to_owned(),
            kind: kind.to_owned(),
            date_added: at,
            version: at,
            body: json!({ "id": id }),
        },
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
    let objects: Vec<Placed> = (0..7)
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
        let (page, more) = selection.page(objects.clone());
        seen.extend(page.iter().map(|placed| placed.object.id.clone()));
        if !more {
            break;
        }
        next = Some(encode_cursor(&page.last().unwrap().position));
    }
    let expected: Vec<String> = objects
        .iter()
        .map(|placed| placed.object.id.clone())
        .collect();
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
            .page(objects.clone())
            .0
            .iter()
            .map(|placed| placed.object.id.clone())
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

#[test]
fn cursors_round_trip_and_the_earlier_form_restarts_at_its_time() {
    let position = Position {
        at: chrono::DateTime::from_timestamp_micros(1_700_000_000_123_456).unwrap(),
        group: "view--1".to_owned(),
        object: "indicator--2".to_owned(),
    };
    assert_eq!(decode_cursor(&encode_cursor(&position)).unwrap(), position);
    let earlier = URL_SAFE_NO_PAD.encode("1700000000123456|indicator--2");
    let restart = decode_cursor(&earlier).unwrap();
    assert_eq!(restart.at, position.at);
    assert!(restart < position, "everything at that time is read again");
}

#[test]
fn too_many_ids_are_refused() {
    let ids: Vec<String> = (0..=accord_index::MAX_OBJECT_IDS)
        .map(|n| format!("indicator--{n}"))
        .collect();
    let pairs = vec![("match[id]".to_owned(), ids.join(","))];
    assert!(matches!(
        parse_selection(&pairs),
        Err(TaxiiError::BadRequest(_))
    ));
}
