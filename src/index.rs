//! `accord index rebuild`: the index is derived state; this drops the embedded (tantivy) index of a stopped Accord so
//! that its next start rebuilds it from the bus (the indexer's start check, `accord_indexer`'s `rebuild` module), with
//! `/readyz` saying `index rebuilding (n of m)` until it is done.
//!
//! It refuses while a process holds the data directory (the index's writer lock or the bus log), and changes nothing
//! then.
//!
//! `accord index rebuild --index opensearch://…`: asks for an online rebuild of the OpenSearch index while Accord runs
//! (decision 0066): the next generation `<prefix>-views-<n+1>` is created without the alias; the indexer finds it
//! within seconds, replays `reports.releasable` into it with a consumer group of its own while searches keep reading
//! generation n, switches the alias once the replay has caught up and deletes generation n.
//!
//! `accord index verify`: checks every file of the embedded index against tantivy's own checksums (read only, so it
//! also runs beside a live Accord) and lists the damaged ones; the writer makes the same check at every start and
//! sets a damaged index aside to be rebuilt.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;

/// `accord index rebuild`.
#[derive(Debug, Clone, Args)]
pub struct IndexRebuildArgs {
    /// The data directory of the stopped Accord (its index is DATA_DIR/index, its bus DATA_DIR/bus).
    #[arg(long, env = "ACCORD_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// The OpenSearch index of a running Accord, as the indexer's `--index` (`opensearch://HOST:PORT?prefix=…`, or
    /// `opensearch+https://USER:PASSWORD@…`, then from the environment, never on a command line): asks its indexer
    /// for an online rebuild. An OpenSearch index takes precedence over --data-dir; any other is ignored here.
    #[arg(long, env = "ACCORD_INDEX")]
    pub index: Option<String>,
}

/// `accord index verify`.
#[derive(Debug, Clone, Args)]
pub struct IndexVerifyArgs {
    /// The data directory (its index is DATA_DIR/index).
    #[arg(long, env = "ACCORD_DATA_DIR")]
    pub data_dir: PathBuf,
}

/// Lists the index files whose checksums fail; an error when there is one.
///
/// # Errors
/// When the index cannot be opened or a file is damaged.
pub async fn verify(args: IndexVerifyArgs) -> anyhow::Result<()> {
    let dir = args.data_dir.join("index");
    if !dir.exists() {
        anyhow::bail!("{} has no index", args.data_dir.display());
    }
    let damaged = tokio::task::spawn_blocking(move || {
        accord_index::tantivy_index::TantivyIndex::open_read_only(&dir)?.damaged_files()
    })
    .await??;
    if damaged.is_empty() {
        println!("index: every file passes its checksum");
        return Ok(());
    }
    for file in &damaged {
        println!("damaged: {}", file.display());
    }
    anyhow::bail!(
        "{} index files fail their checksums: the next start sets the index aside and rebuilds it from the bus",
        damaged.len()
    )
}

/// `accord index rebuild`: online for `--index opensearch://…`, else by dropping the embedded index of `--data-dir`.
///
/// # Errors
/// As `rebuild_online` and `rebuild_embedded`, or when neither option is given.
pub async fn rebuild(args: IndexRebuildArgs) -> anyhow::Result<()> {
    let online = args.index.filter(|url| url.starts_with("opensearch"));
    match (online, args.data_dir) {
        (Some(url), _) => rebuild_online(&url).await,
        (None, Some(data_dir)) => rebuild_embedded(&data_dir).await,
        (None, None) => anyhow::bail!(
            "give --data-dir DIR (the embedded index of a stopped Accord) or --index opensearch://… (an online rebuild)"
        ),
    }
}

/// Asks the OpenSearch index at `url` for an online rebuild (see the module documentation).
///
/// # Errors
/// When `url` is not a valid index URL, or the cluster refuses or cannot be reached.
async fn rebuild_online(url: &str) -> anyhow::Result<()> {
    // Opened without managing the indices: it installs no template and never creates the first generation (that is
    // the indexer's, whose start must see a lost index as missing); the new generation takes the installed templates.
    let index = accord_index::IndexClient::from_url_read_only(url)?;
    let generation = index
        .request_rebuild()
        .await
        .context("failed to ask for a rebuild")?;
    println!(
        "Rebuild asked for: the indexer replays reports.releasable into index generation {generation} while \
         searches read the current one, then switches the alias and deletes the old generation (its log says \
         \"index rebuilt\")."
    );
    Ok(())
}

/// Checks that nothing holds the data directory, then removes the index directory.
///
/// # Errors
/// When another process holds the index or the bus, when the data directory has no bus to rebuild from, or when
/// the directory cannot be removed.
async fn rebuild_embedded(data_dir: &std::path::Path) -> anyhow::Result<()> {
    let index_dir = data_dir.join("index");
    let bus_file = data_dir.join("bus").join(accord_bus::embedded::FILE_NAME);
    if !bus_file.exists() {
        anyhow::bail!(
            "{} has no embedded bus ({} is missing): nothing to rebuild the index from",
            data_dir.display(),
            bus_file.display()
        );
    }
    {
        // Both refuse with "another Accord process holds …" while a process runs on the directory.
        let index_url = format!("tantivy://{}", index_dir.display());
        let index =
            tokio::task::spawn_blocking(move || accord_index::IndexClient::from_url(&index_url))
                .await?
                .context("the index is in use: stop Accord first")?;
        drop(index);
        let bus = accord_bus::embedded::EmbeddedBus::open(data_dir.join("bus"))
            .context("the bus is in use: stop Accord first")?;
        drop(bus);
    }
    std::fs::remove_dir_all(&index_dir)
        .with_context(|| format!("failed to remove {}", index_dir.display()))?;
    println!(
        "Removed the index {}. The next start on {} rebuilds it from the bus; /readyz says \
         \"index rebuilding (n of m)\" until it is done.",
        index_dir.display(),
        data_dir.display()
    );
    Ok(())
}
