//! Contract tests of queries: the release filter is in every search and lookup body, the DSL is the documented one,
//! and OpenSearch's answers (search, `_msearch`, partial results) are decoded or refused.

use accord_domain::{ObservableType as T, Purpose, Tlp};
use accord_index::{Filters, IndexError, Query, ReleaseFilter, conformance as c};
use serde_json::{Value, json};

use crate::stub::{Recorded, Reply, Stub, mget_answer, search_answer};

/// Returns the release filter Accord must send for `release`.
fn expected_release(release: &ReleaseFilter) -> Value {
    let at = release
        .at
        .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
    let mous: Vec<&str> = release.mous.iter().map(|(mou, _)| mou.as_str()).collect();
    json!({ "bool": { "filter": [
        { "terms": { "grant": [format!("{}|{}", release.agency, release.purpose)] } },
        { "terms": { "mou": mous } },
        { "range": { "valid_from": { "lte": at } } },
        { "range": { "valid_until": { "gt": at } } }
    ] } })
}

/// Returns every search body a request carries (one for `_search`, one per search for `_msearch`).
fn search_bodies(request: &Recorded) -> Vec<Value> {
    if request.path == "/_msearch" {
        request.lines().into_iter().skip(1).step_by(2).collect()
    } else if request.path.ends_with("/_search") && !request.body.is_empty() {
        vec![request.json()]
    } else {
        Vec::new()
    }
}

#[tokio::test]
async fn every_search_and_lookup_carries_the_release_filter() {
    let stub = Stub::start().await;
    let index = stub.index();
    let other = ReleaseFilter {
        agency: c::org(c::OTHER_AGENCY),
        purpose: Purpose::Prevention,
        at: c::at("2030-06-01T12:34:56.789012Z"),
        mous: vec![(c::mou_id("mou-a"), 1), (c::mou_id("mou-b"), 4)],
        views: accord_index::Views::Shown,
        stale_only: false,
    };
    let nothing_in_force = ReleaseFilter {
        mous: Vec::new(),
        ..c::release()
    };
    let mut filters = Filters::default();
    filters.types.insert(T::Url);
    filters.tlp.insert(Tlp::Green);
    filters.sector = Some("energy".to_owned());
    filters.partner = Some("bank-b".to_owned());
    filters.from = Some(c::at("2024-01-01T00:00:00Z"));
    filters.to = Some(c::at("2024-02-01T00:00:00Z"));
    let searches = vec![
        c::query(),
        Query {
            release: other.clone(),
            ..c::query()
        },
        Query {
            release: nothing_in_force.clone(),
            ..c::query()
        },
        Query {
            indicator: Some(c::key(T::Ipv4Addr, "10.1.2.3")),
            ..c::query()
        },
        Query {
            text: Some("grant:bka|investigation OR *".to_owned()),
            ..c::query()
        },
        Query {
            filters,
            release: other.clone(),
            ..c::query()
        },
        Query {
            offset: 50_000,
            ..c::query()
        },
    ];
    let mut expected = Vec::new();
    for search in searches {
        expected.push(expected_release(&search.release));
        index.search(search).await.unwrap();
    }
    for release in [c::release(), other, nothing_in_force] {
        let keys = vec![
            c::exact(T::DomainName, "a.example"),
            c::key(T::Ipv6Addr, "2001:db8::1"),
        ];
        index.lookup(release.clone(), keys, 5).await.unwrap();
        expected.extend([expected_release(&release), expected_release(&release)]);
    }

    let bodies: Vec<Value> = stub.requests().iter().flat_map(search_bodies).collect();
    assert_eq!(bodies.len(), expected.len(), "every search was sent");
    for (body, release) in bodies.iter().zip(&expected) {
        let filter = &body["query"]["bool"]["filter"];
        assert_eq!(&filter[0], release, "release filter first in {body}");
        assert!(
            body["query"]["bool"].get("should").is_none()
                && body["query"]["bool"].get("must").is_none()
        );
        assert_eq!(
            body["query"].as_object().map(|query| query.len()),
            Some(1),
            "nothing beside the bool"
        );
    }
}

#[tokio::test]
async fn search_bodies_are_the_documented_dsl() {
    let stub = Stub::start().await;
    let mut search = Query {
        indicator: Some(c::key(T::Ipv4Addr, "10.1.2.3")),
        text: Some("ransomware \"payment gateway\" -ledger".to_owned()),
        size: 20,
        offset: 40,
        ..c::query()
    };
    search.filters.types.insert(T::DomainName);
    search.filters.types.insert(T::Url);
    search.filters.tlp.insert(Tlp::Amber);
    search.filters.sector = Some("finance".to_owned());
    search.filters.partner = Some("bank-a".to_owned());
    search.filters.from = Some(c::at("2024-02-01T00:00:00Z"));
    search.filters.to = Some(c::at("2024-03-01T00:00:00Z"));
    let release = expected_release(&search.release);
    stub.index().search(search).await.unwrap();

    let request = stub.to("/_search").remove(0);
    assert_eq!(
        (request.method.as_str(), request.path.as_str()),
        ("POST", "/accord-views/_search")
    );
    assert_eq!(
        request.json(),
        json!({
            "query": { "bool": { "filter": [
                release,
                { "bool": { "should": [
                    { "term": { "indicator": "ipv4-addr|10.1.2.3" } },
                    { "term": { "cidr_v4": "10.1.2.3" } }
                ], "minimum_should_match": 1 } },
                { "simple_query_string": {
                    "query": "ransomware \"payment gateway\" -ledger", "fields": ["title", "description"],
                    "default_operator": "and", "flags": "AND|NOT|PHRASE|WHITESPACE", "lenient": true
                } },
                { "terms": { "indicator_type": ["domain-name", "url"] } },
                { "terms": { "tlp": ["amber"] } },
                { "term": { "sector": "finance" } },
                { "term": { "partner": "bank-a" } },
                { "range": { "occurred_at": {
                    "gte": "2024-02-01T00:00:00.000000000Z", "lt": "2024-03-01T00:00:00.000000000Z"
                } } }
            ] } },
            "sort": [
                { "occurred_at": { "order": "desc" } },
                { "view_id": { "order": "asc" } },
                { "report_id": { "order": "asc" } }
            ],
            "track_total_hits": true,
            "from": 40,
            "size": 20,
            "_source": ["view"]
        })
    );
}

#[tokio::test]
async fn search_answers_become_pages_and_deep_pages_walk_a_point_in_time() {
    let report_id = c::report();
    let hits = vec![c::view(&report_id, "newer"), c::view(&report_id, "older")];
    let answer = search_answer(42, &hits);
    let stub = Stub::scripted(move |request, _| {
        request
            .path
            .ends_with("/_search")
            .then(|| Reply::new(200, answer.clone()))
    })
    .await;
    let index = stub.index();
    let page = index.search(c::query()).await.unwrap();
    assert_eq!(page.total, 42);
    assert_eq!(page.hits, hits);

    let within = Query {
        offset: 9_990,
        size: 10,
        ..c::query()
    };
    index.search(within).await.unwrap();
    let beyond = Query {
        offset: 9_995,
        size: 10,
        ..c::query()
    };
    // The stub's answer has fewer hits than the walk skips: the page is empty, the total exact.
    assert_eq!(
        index.search(beyond).await.unwrap(),
        accord_index::Page {
            total: 42,
            hits: Vec::new()
        }
    );

    let searches = stub.to("/_search");
    let bodies: Vec<Value> = searches.iter().map(Recorded::json).collect();
    assert_eq!(
        (bodies[1]["from"].clone(), bodies[1]["size"].clone()),
        (json!(9_990), json!(10))
    );
    let opened = stub.to("/_search/point_in_time");
    assert_eq!(
        (
            opened[0].method.as_str(),
            opened[0].path.as_str(),
            opened[0].query.as_str()
        ),
        (
            "POST",
            "/accord-views/_search/point_in_time",
            "keep_alive=1m"
        )
    );
    assert_eq!(
        searches[2].path, "/_search",
        "a point in time is searched without an index"
    );
    assert_eq!(
        bodies[2]["pit"],
        json!({ "id": "stub-pit", "keep_alive": "1m" })
    );
    assert_eq!(
        (
            bodies[2]["from"].clone(),
            bodies[2]["size"].clone(),
            bodies[2]["_source"].clone()
        ),
        (json!(0), json!(9_995), json!(false)),
        "the walk skips with sort values only"
    );
    assert!(bodies[2].get("search_after").is_none());
    let closed = &opened[1];
    assert_eq!(
        (closed.method.as_str(), closed.json()),
        ("DELETE", json!({ "pit_id": ["stub-pit"] }))
    );
}

#[tokio::test]
async fn partial_or_failed_searches_are_errors() {
    let stub = Stub::scripted(|request, nth| {
        request.path.ends_with("/_search").then(|| match nth {
            0 => {
                let mut partial = search_answer(1, &[]);
                partial["_shards"] = json!({ "total": 2, "successful": 1, "skipped": 0, "failed": 1, "failures": [
                    { "shard": 1, "index": "accord-views", "node": "n1", "reason": { "type": "node_disconnected_exception", "reason": "node disconnected" } }
                ] });
                Reply::new(200, partial)
            }
            _ => Reply::new(400, json!({
                "error": { "root_cause": [{ "type": "query_shard_exception", "reason": "failed to create query" }],
                           "type": "search_phase_execution_exception", "reason": "all shards failed" },
                "status": 400
            })),
        })
    })
    .await;
    let index = stub.index();
    assert!(matches!(
        index.search(c::query()).await,
        Err(IndexError::Unavailable { .. })
    ));
    let refused = index.search(c::query()).await;
    assert!(
        matches!(&refused, Err(IndexError::Unavailable { context, .. }) if context.contains("search_phase_execution_exception")),
        "{refused:?}"
    );
}

#[tokio::test]
async fn lookups_are_one_msearch_with_answers_in_key_order() {
    let report_id = c::report();
    let first = c::view(&report_id, "first");
    let third = c::view(&report_id, "third");
    let (scripted_first, scripted_third) = (first.clone(), third.clone());
    let stub = Stub::scripted(move |request, _| {
        let views = [scripted_first.clone(), scripted_third.clone()];
        if request.path == "/accord-views/_mget" {
            return Some(Reply::new(200, mget_answer(request, &views)));
        }
        (request.path == "/_msearch").then(|| {
            let mut answers = vec![
                search_answer(7, std::slice::from_ref(&scripted_first)),
                search_answer(0, &[]),
                search_answer(1, std::slice::from_ref(&scripted_third)),
            ];
            for answer in &mut answers {
                answer["status"] = json!(200);
            }
            Reply::new(200, json!({ "took": 12, "responses": answers }))
        })
    })
    .await;
    let keys = vec![
        c::exact(T::DomainName, "a.example"),
        c::exact(T::Url, "http://b.example/"),
        c::key(T::Ipv4Addr, "10.0.0.1"),
    ];
    let pages = stub.index().lookup(c::release(), keys, 3).await.unwrap();
    assert_eq!(
        pages.iter().map(|page| page.total).collect::<Vec<_>>(),
        vec![7, 0, 1]
    );
    assert_eq!(pages[0].hits, vec![first]);
    assert_eq!(pages[2].hits, vec![third]);

    let requests = stub.to("/_msearch");
    assert_eq!(requests.len(), 1);
    let lines = requests[0].lines();
    assert_eq!(lines.len(), 6);
    for header in lines.iter().step_by(2) {
        assert_eq!(header, &json!({ "index": "accord-views" }));
    }
    assert_eq!(lines[1]["size"], json!(3));
    assert_eq!(lines[1]["from"], json!(0));
    assert_eq!(lines[1]["track_total_hits"], json!(true));
    assert_eq!(
        lines[1]["_source"],
        json!(false),
        "lookups ask for ids only"
    );
    let mgets = stub.to("/accord-views/_mget");
    assert_eq!(mgets.len(), 1, "the views are read once, by id");
    assert_eq!(
        mgets[0].json()["docs"][0],
        json!({ "_id": format!("{report_id}:view--first"), "_source": ["view"] })
    );
    assert_eq!(
        lines[3]["query"]["bool"]["filter"][1],
        json!({ "term": { "indicator": "url|http://b.example/" } })
    );
}

#[tokio::test]
async fn rejected_lookups_are_retried_alone_and_failed_ones_are_errors() {
    let stub = Stub::scripted(|request, nth| {
        (request.path == "/_msearch").then(|| {
            let searches = request.lines().len() / 2;
            let mut answers = Vec::new();
            for position in 0..searches {
                let mut answer = search_answer(u64::try_from(position).unwrap(), &[]);
                answer["status"] = json!(200);
                if nth == 0 && position == 1 {
                    answer = json!({ "error": { "root_cause": [], "type": "es_rejected_execution_exception", "reason": "rejected execution of search" }, "status": 429 });
                }
                answers.push(answer);
            }
            Reply::new(200, json!({ "took": 3, "responses": answers }))
        })
    })
    .await;
    let keys: Vec<_> = ["a", "b", "c"]
        .iter()
        .map(|name| c::exact(T::DomainName, &format!("{name}.example")))
        .collect();
    let pages = stub.index().lookup(c::release(), keys, 1).await.unwrap();
    // The retried search answers as position 0 of its own request.
    assert_eq!(
        pages.iter().map(|page| page.total).collect::<Vec<_>>(),
        vec![0, 0, 2]
    );
    let requests = stub.to("/_msearch");
    assert_eq!(requests.len(), 2);
    assert_eq!(
        requests[1].lines().len(),
        2,
        "only the rejected search is sent again"
    );
    assert_eq!(
        requests[1].lines()[1]["query"]["bool"]["filter"][1]["term"]["indicator"],
        json!("domain-name|b.example")
    );

    let failing = Stub::scripted(|request, _| {
        (request.path == "/_msearch").then(|| {
            Reply::new(200, json!({ "took": 1, "responses": [
                { "error": { "type": "illegal_argument_exception", "reason": "Result window is too large" }, "status": 400 }
            ] }))
        })
    })
    .await;
    let result = failing
        .index()
        .lookup(c::release(), vec![c::exact(T::DomainName, "a.example")], 1)
        .await;
    assert!(
        matches!(&result, Err(IndexError::Unavailable { context, .. }) if context.contains("illegal_argument_exception")),
        "{result:?}"
    );
}

#[tokio::test]
async fn large_lookups_are_split_into_several_msearch_requests() {
    let stub = Stub::start().await;
    let mut config = stub.config();
    config.msearch_max_searches = 2;
    let keys: Vec<_> = (0..5)
        .map(|n| c::exact(T::DomainName, &format!("d{n}.example")))
        .collect();
    let pages = stub
        .index_with(config)
        .lookup(c::release(), keys, 1)
        .await
        .unwrap();
    assert_eq!(pages.len(), 5);
    let sizes: Vec<usize> = stub
        .to("/_msearch")
        .iter()
        .map(|request| request.lines().len() / 2)
        .collect();
    assert_eq!(sizes, vec![2, 2, 1]);
    assert!(
        stub.index()
            .lookup(c::release(), Vec::new(), 1)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn refresh_asks_both_indices() {
    let stub = Stub::start().await;
    stub.index().refresh().await.unwrap();
    let refresh = stub.to("/_refresh");
    assert_eq!(refresh.len(), 1);
    assert_eq!(refresh[0].path, "/accord-views,accord-reports/_refresh");
}

#[tokio::test]
async fn too_many_clauses_is_an_invalid_query_never_retried() {
    let stub = Stub::scripted(|request, _| {
        let refused = json!({
            "error": {
                "root_cause": [{ "type": "too_many_clauses", "reason": "maxClauseCount is set to 1024" }],
                "type": "search_phase_execution_exception", "reason": "all shards failed",
                "caused_by": { "type": "too_many_clauses", "reason": "maxClauseCount is set to 1024" }
            },
            "status": 500
        });
        if request.path == "/_msearch" {
            let mut item = refused.clone();
            item["status"] = json!(500);
            return Some(Reply::new(200, json!({ "took": 1, "responses": [item] })));
        }
        request.path.ends_with("/_search").then(|| Reply::new(500, refused))
    })
    .await;
    let index = stub.index();
    let searched = index.search(c::query()).await;
    assert!(
        matches!(searched, Err(IndexError::InvalidQuery(_))),
        "{searched:?}"
    );
    assert_eq!(stub.to("/accord-views/_search").len(), 1, "never retried");
    let looked_up = index
        .lookup(c::release(), vec![c::exact(T::DomainName, "a.example")], 3)
        .await;
    assert!(
        matches!(looked_up, Err(IndexError::InvalidQuery(_))),
        "{looked_up:?}"
    );
    assert_eq!(stub.to("/_msearch").len(), 1, "never retried");
}
