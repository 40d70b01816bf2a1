//! `accord`: see `accord --help`.

use accord::{
    cli::{AuditAction, BusAction, Cli, Command, ConfigAction, IndexAction, ReportAction},
    run::Service,
};
use accord_runtime::telemetry;
use clap::Parser;

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    telemetry::init(cli.log_format.into());
    accord::memory::init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let outcome = runtime.block_on(async move {
        match cli.command {
            Command::Up(args) => accord::up::main(args).await,
            Command::Gateway(args) => accord::up::serve(args, &[Service::Gateway]).await,
            Command::Normalizer(args) => accord::up::serve(args, &[Service::Normalizer]).await,
            Command::Enforcer(args) => accord::up::serve(args, &[Service::Enforcer]).await,
            Command::Indexer(args) => accord::up::serve(args, &[Service::Indexer]).await,
            Command::Search(args) => accord::up::serve(args, &[Service::Search]).await,
            Command::Admin(args) => accord::up::serve(args, &[Service::Admin]).await,
            Command::Console(args) => accord::console::main(args).await,
            Command::Report(args) => match args.action {
                ReportAction::Submit(args) => accord::submit::main(args).await,
            },
            Command::Loadgen(args) => accord::loadgen::main(args).await,
            Command::Check(args) => accord::check::main(args).await,
            Command::Config(args) => match args.action {
                ConfigAction::Print(args) => accord::up::print_config(args),
            },
            Command::Audit(args) => match args.action {
                AuditAction::Verify(args) => accord::audit::verify(args),
                AuditAction::VerifyExport(args) => accord::audit::verify_export(args),
            },
            Command::Index(args) => match args.action {
                IndexAction::Rebuild(args) => accord::index::rebuild(args).await,
                IndexAction::Verify(args) => accord::index::verify(args).await,
            },
            Command::Bus(args) => match args.action {
                BusAction::Verify(args) => accord::bus::verify(args),
            },
        }
    });
    // A blocking task still running (a batch being normalized when the grace period ran out) must not keep the
    // process alive: dropping the runtime would wait for it.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    outcome
}
