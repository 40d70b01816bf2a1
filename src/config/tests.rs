use super::*;
use crate::cli::{Cli, Command};
use clap::Parser;

fn parse(args: &[&str]) -> RunArgs {
    let cli = Cli::try_parse_from(args).expect("valid command line");
    match cli.command {
        Command::Gateway(args) | Command::Up(args) => args,
        other => panic!("unexpected command {other:?}"),
    }
}

fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .collect()
}

fn listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8081))
}

#[test]
fn the_command_line_wins_over_the_environment_over_the_file_over_the_default() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("accord.toml");
    std::fs::write(
        &file,
        "data_dir = \"/srv/accord\"\nbus = \"kafka://file:9092\"\nlisten = \"0.0.0.0:9000\"\n\
         [indexer]\nlanes = 3\nbatch_size = 100\n[gateway]\nmax_indicators = 50\n",
    )
    .unwrap();
    let args = parse(&[
        "accord",
        "gateway",
        "--config",
        file.to_str().unwrap(),
        "--bus",
        "kafka://flag:9092",
    ]);
    let settings = Settings::resolve(
        args,
        listen(),
        &env(&[
            ("ACCORD_INDEXER__LANES", "5"),
            ("ACCORD_DATA_DIR", "ignored"),
        ]),
    )
    .unwrap();
    assert_eq!(
        settings
            .bus
            .as_ref()
            .map(|bus| bus.expose_secret().to_owned()),
        Some("kafka://flag:9092".to_owned())
    );
    assert_eq!(settings.data_dir, PathBuf::from("/srv/accord"));
    assert_eq!(settings.listen, "0.0.0.0:9000".parse().unwrap());
    assert!(settings.index.is_none());
    assert_eq!(settings.services.indexer.lanes, 5, "the environment wins");
    assert_eq!(settings.services.indexer.batch_size, 100, "the file wins");
    assert_eq!(settings.services.gateway.max_indicators, 50);
    assert_eq!(
        settings.services.search.max_page_size,
        accord_search::Config::default().max_page_size
    );

    let defaults = Settings::resolve(parse(&["accord", "up"]), listen(), &env(&[])).unwrap();
    assert_eq!(defaults.data_dir, PathBuf::from("accord-data"));
    assert_eq!(defaults.listen, listen());
}

#[test]
fn a_bad_configuration_file_is_refused_naming_the_file_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.toml");
    for (text, key) in [
        ("buss = \"kafka://x:1\"\n", "buss"),
        ("[gateway]\nmax_reports = 3\n", "max_reports"),
        ("[indexer]\nbatch_size = \"many\"\n", "indexer.batch_size"),
    ] {
        std::fs::write(&file, text).unwrap();
        let args = parse(&["accord", "up", "--config", file.to_str().unwrap()]);
        let error = Settings::resolve(args, listen(), &env(&[])).unwrap_err();
        let message = format!("{error:#}");
        assert!(message.contains("bad.toml"), "{message}");
        assert!(message.contains(key), "{message}");
    }
}

#[test]
fn bad_environment_settings_are_refused_naming_the_key() {
    for (name, value, key) in [
        ("ACCORD_GATEWAY__NO_SUCH_FIELD", "1", "no_such_field"),
        (
            "ACCORD_NOWHERE__BATCH_SIZE",
            "1",
            "ACCORD_NOWHERE__BATCH_SIZE",
        ),
        ("ACCORD_INDEXER__BATCH_SIZE", "0", "indexer.batch_size"),
        ("ACCORD_HTTP__MAX_BODY_BYTES", "12", "http.max_body_bytes"),
    ] {
        let error = Settings::resolve(parse(&["accord", "up"]), listen(), &env(&[(name, value)]))
            .unwrap_err();
        let message = format!("{error:#}");
        assert!(message.contains(key), "{name}: {message}");
    }
}

#[test]
fn secrets_are_masked_when_printed() {
    let args = parse(&[
        "accord",
        "up",
        "--index",
        "opensearch+https://admin:hunter2-password@os:9200",
    ]);
    let key = "c2VjcmV0LXNpZ25pbmcta2V5LW9mLTMyLWJ5dGVzISE=";
    let settings = Settings::resolve(
        args,
        listen(),
        &env(&[
            ("ACCORD_ADMIN_TOKEN", "a-very-secret-admin-token"),
            ("ACCORD_SEARCH__AUDIT_SIGNING_KEY", key),
            ("ACCORD_GATEWAY__REPORT_ID_KEY", key),
        ]),
    )
    .unwrap();
    let printed = settings.to_masked_toml();
    for secret in ["a-very-secret-admin-token", "hunter2-password", key] {
        assert!(!printed.contains(secret), "{printed}");
        assert!(!format!("{settings:?}").contains(secret));
    }
    assert!(
        printed.contains("opensearch+https://admin:***@os:9200"),
        "{printed}"
    );
    assert!(printed.contains("[indexer]"), "{printed}");
    let parsed: toml::Table = printed.parse().expect("the printed settings are TOML");
    assert!(parsed.contains_key("gateway"));
}

#[test]
fn passwords_are_redacted_from_urls() {
    assert_eq!(
        redact("opensearch+https://admin:secret@os:9200?prefix=a"),
        "opensearch+https://admin:***@os:9200?prefix=a"
    );
    assert_eq!(redact("kafka://a:9092,b:9092"), "kafka://a:9092,b:9092");
    assert_eq!(redact("/var/lib/accord/bus"), "/var/lib/accord/bus");
}

#[test]
fn kafka_secrets_come_from_the_file_or_the_environment_and_are_printed_masked() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("accord.toml");
    std::fs::write(
        &file,
        "bus = \"kafka://broker:9093?security_protocol=sasl_ssl&sasl_mechanism=SCRAM-SHA-512\"\n\
         [kafka]\nsasl_username = \"accord-gateway\"\nssl_key_password = \"key-secret\"\n",
    )
    .unwrap();
    let args = parse(&["accord", "gateway", "--config", file.to_str().unwrap()]);
    let settings = Settings::resolve(
        args,
        listen(),
        &env(&[("ACCORD_KAFKA__SASL_PASSWORD", "sasl-secret")]),
    )
    .unwrap();
    let kafka = &settings.services.kafka;
    assert_eq!(kafka.sasl_username.as_deref(), Some("accord-gateway"));
    assert_eq!(
        kafka.sasl_password.as_ref().map(|secret| secret.expose()),
        Some("sasl-secret")
    );
    let printed = settings.to_masked_toml();
    assert!(printed.contains("[kafka]"), "{printed}");
    assert!(printed.contains("sasl_password = \"***\""), "{printed}");
    assert!(
        !printed.contains("sasl-secret") && !printed.contains("key-secret"),
        "{printed}"
    );
    assert!(!format!("{settings:?}").contains("sasl-secret"));

    let from_env = kafka_from_env(&env(&[
        ("ACCORD_KAFKA__SASL_PASSWORD", "sasl-secret"),
        ("ACCORD_KAFKA__SASL_MECHANISM", "SCRAM-SHA-256"),
    ]))
    .unwrap();
    assert_eq!(
        from_env.sasl_mechanism,
        Some(accord_bus::kafka::SaslMechanism::ScramSha256)
    );
    let error = kafka_from_env(&env(&[("ACCORD_KAFKA__SASL_PASWORD", "typo")])).unwrap_err();
    assert!(error.to_string().contains("sasl_pasword"), "{error}");
}

#[test]
fn directory_keys_come_from_the_file_or_the_environment_and_the_signing_key_is_printed_masked() {
    let signing_key = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";
    let public_key = accord_runtime::directory::signing::encode_public_key(
        &accord_runtime::directory::signing::DirectorySigner::from_seed([1; 32]).public_key(),
    );
    let args = parse(&["accord", "up"]);
    let settings = Settings::resolve(
        args,
        listen(),
        &env(&[
            ("ACCORD_ADMIN__DIRECTORY_SIGNING_KEY", signing_key),
            ("ACCORD_DIRECTORY__PUBLIC_KEYS", &public_key),
        ]),
    )
    .unwrap();
    assert_eq!(
        settings.services.directory.public_keys,
        std::slice::from_ref(&public_key)
    );
    let printed = settings.to_masked_toml();
    assert!(
        printed.contains("directory_signing_key = \"***\""),
        "{printed}"
    );
    assert!(!printed.contains(signing_key), "{printed}");
    assert!(!format!("{settings:?}").contains(signing_key));

    for (name, value, key) in [
        (
            "ACCORD_ADMIN__DIRECTORY_SIGNING_KEY",
            "too-short",
            "admin.directory_signing_key",
        ),
        (
            "ACCORD_DIRECTORY__PUBLIC_KEYS",
            "[\"AAAA\"]",
            "directory.public_keys[0]",
        ),
    ] {
        let args = parse(&["accord", "up"]);
        let error = Settings::resolve(args, listen(), &env(&[(name, value)]))
            .and_then(|settings| settings.services.validate())
            .unwrap_err();
        assert!(error.to_string().contains(key), "{name}: {error}");
    }
}

#[test]
fn the_admin_token_is_read_from_the_environment_or_a_file_never_a_flag() {
    assert!(
        Cli::try_parse_from(["accord", "up", "--admin-token", "a-very-secret-admin-token"])
            .is_err(),
        "no command-line flag carries the token"
    );
    let from_env = Settings::resolve(
        parse(&["accord", "up"]),
        listen(),
        &env(&[("ACCORD_ADMIN_TOKEN", "from-the-environment")]),
    )
    .unwrap();
    assert_eq!(
        from_env.admin_token.unwrap().expose_secret(),
        "from-the-environment"
    );

    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("admin-token");
    std::fs::write(&token_file, "from-a-file-of-its-own\n").unwrap();
    let path = token_file.to_str().unwrap();
    let from_file = Settings::resolve(
        parse(&["accord", "up", "--admin-token-file", path]),
        listen(),
        &env(&[]),
    )
    .unwrap();
    assert_eq!(
        from_file.admin_token.unwrap().expose_secret(),
        "from-a-file-of-its-own"
    );
    let config = dir.path().join("accord.toml");
    std::fs::write(&config, format!("admin_token_file = {path:?}\n")).unwrap();
    let from_config = Settings::resolve(
        parse(&["accord", "up", "--config", config.to_str().unwrap()]),
        listen(),
        &env(&[]),
    )
    .unwrap();
    assert!(from_config.admin_token.is_some());

    let both = Settings::resolve(
        parse(&["accord", "up", "--admin-token-file", path]),
        listen(),
        &env(&[("ACCORD_ADMIN_TOKEN", "from-the-environment")]),
    );
    assert!(format!("{:#}", both.unwrap_err()).contains("keep one"));
    std::fs::write(&config, "admin_token = \"inline-in-the-config\"\n").unwrap();
    let inline = Settings::resolve(
        parse(&["accord", "up", "--config", config.to_str().unwrap()]),
        listen(),
        &env(&[]),
    )
    .unwrap_err();
    let message = format!("{inline:#}");
    assert!(message.contains("admin_token_file"), "{message}");
    assert!(!message.contains("inline-in-the-config"), "{message}");
}

#[test]
fn memory_sizes_come_from_the_file_or_the_environment_are_validated_and_printed() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("accord.toml");
    std::fs::write(
        &file,
        "[memory]\nbus_cache_mib = 32\nenforcer_cache_mib = 16\nindex_writer_mib = 20\n",
    )
    .unwrap();
    let args = parse(&["accord", "up", "--config", file.to_str().unwrap()]);
    let settings = Settings::resolve(
        args,
        listen(),
        &env(&[("ACCORD_MEMORY__ENFORCER_CACHE_MIB", "8")]),
    )
    .unwrap();
    let memory = &settings.services.memory;
    assert_eq!(memory.bus_cache_bytes(), 32 * 1024 * 1024, "the file");
    assert_eq!(memory.enforcer_cache_mib, 8, "the environment wins");
    assert_eq!(memory.index_writer_mib, 20);
    let defaults = accord_runtime::memory::MemoryConfig::default();
    assert_eq!(memory.audit_cache_mib, defaults.audit_cache_mib);
    let printed: toml::Table = settings.to_masked_toml().parse().unwrap();
    assert_eq!(printed["memory"]["bus_cache_mib"].as_integer(), Some(32));
    assert_eq!(
        printed["memory"]["gateway_cache_mib"].as_integer(),
        i64::try_from(defaults.gateway_cache_mib).ok(),
        "a key not given prints its default"
    );

    for (name, value, key) in [
        (
            "ACCORD_MEMORY__INDEX_WRITER_MIB",
            "14",
            "memory.index_writer_mib",
        ),
        (
            "ACCORD_MEMORY__ALERTS_CACHE_MIB",
            "0",
            "memory.alerts_cache_mib",
        ),
        (
            "ACCORD_MEMORY__BUS_CACHE_MIB",
            "10000000",
            "memory.bus_cache_mib",
        ),
        ("ACCORD_MEMORY__BUS_CACHE_MIB", "-1", "bus_cache_mib"),
        ("ACCORD_MEMORY__CACHE_MIB", "8", "cache_mib"),
    ] {
        let error = Settings::resolve(parse(&["accord", "up"]), listen(), &env(&[(name, value)]))
            .unwrap_err();
        let message = format!("{error:#}");
        assert!(message.contains(key), "{name}={value}: {message}");
    }
}
