//! Hosting services: one [`ServiceHost`] per process collects the HTTP routes and supervises the background tasks
//! of every service run in it, so that `accord up` (all services, one listener) and `accord <service>` (one) wire
//! each service the same way: by calling that service crate's own `start(config, &mut host)`.
//!
//! The contract a service's `start` keeps: it builds its state from its `Config` and the host's [`Deps`], mounts
//! its routes ([`ServiceHost::mount`]) and spawns every long-running task with [`ServiceHost::spawn_critical`],
//! then returns. It never binds a listener and never spawns a task of its own.
//!
//! Supervision is the same everywhere: a critical task (a pipeline stage, a follower, a watcher, the HTTP server)
//! that fails — returns an error, panics, or returns at all before shutdown was asked — is logged once with its
//! cause chain and **stops the process** (the shutdown token is cancelled), so that a supervisor (systemd,
//! Kubernetes, docker) restarts it and, on Kafka, other members of its consumer group take over its partitions. No
//! task's failure is only logged.
//!
//! Shutdown order (on the token): the HTTP server stops accepting and finishes in-flight requests; every stage
//! finishes its current batch (its index commit or bus publish) and commits its offsets; then [`Hosted::tracker`]
//! completes. Every HTTP connection runs as a task of that tracker, so it completes only once the last connection,
//! and the service state its handlers hold, is gone (a store can be reopened right after).
//!
//! Services never call each other. The one client of their functions inside a process is the web console
//! (`accord-console`, decision 0025): a service may [`ServiceHost::provide`] a handle on its state (its audit trail,
//! its status store) and the console, started last, takes it with [`ServiceHost::provided`], so that it calls the
//! very functions the HTTP handlers call, on the same state, instead of opening a second copy of it.

use std::{
    any::{Any, TypeId},
    collections::HashMap,
    future::Future,
};

use axum::Router;
use tokio::net::TcpListener;
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use crate::{Deps, http};

/// The routes and tasks of the services run in one process.
#[derive(Debug)]
pub struct ServiceHost {
    deps: Deps,
    http: http::HttpConfig,
    router: Router,
    tracker: TaskTracker,
    shutdown: CancellationToken,
    provided: HashMap<TypeId, Box<dyn Any + Send + Sync>>,
}

/// A host whose server is running: wait on its tracker after cancelling the shutdown token.
#[derive(Debug)]
pub struct Hosted {
    /// Every task of the process.
    pub tracker: TaskTracker,
}

impl ServiceHost {
    /// Returns a host for services using `deps`, stopping on `shutdown`, serving HTTP as `http` says.
    pub fn new(deps: Deps, http: http::HttpConfig, shutdown: CancellationToken) -> Self {
        Self {
            deps,
            http,
            router: Router::new(),
            tracker: TaskTracker::new(),
            shutdown,
            provided: HashMap::new(),
        }
    }

    /// Offers a handle to the services started after this one in the process (see the module documentation); a
    /// second handle of the same type replaces the first.
    pub fn provide<T: Clone + Send + Sync + 'static>(&mut self, handle: T) {
        self.provided.insert(TypeId::of::<T>(), Box::new(handle));
    }

    /// Returns the handle of type `T` a service started earlier provided, if any.
    pub fn provided<T: Clone + Send + Sync + 'static>(&self) -> Option<T> {
        self.provided
            .get(&TypeId::of::<T>())
            .and_then(|handle| handle.downcast_ref::<T>())
            .cloned()
    }

    /// Returns the backends and shared state services are handed.
    pub fn deps(&self) -> &Deps {
        &self.deps
    }

    /// Returns the process's shutdown token, for tasks that must stop between units of work.
    pub fn shutdown(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Adds a service's routes to the process's API.
    pub fn mount(&mut self, routes: Router) {
        self.router = std::mem::take(&mut self.router).merge(routes);
    }

    /// Spawns a task that must run until shutdown. Its failure — an error, a panic, or returning before shutdown —
    /// is logged with its cause chain and stops the process (see the module documentation).
    pub fn spawn_critical<F>(&self, task: &'static str, future: F)
    where
        F: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        let shutdown = self.shutdown.clone();
        let inner = tokio::spawn(future);
        self.tracker.spawn(async move {
            let failure = match inner.await {
                Ok(Ok(())) if shutdown.is_cancelled() => None,
                Ok(Ok(())) => Some("it stopped before shutdown was asked".to_owned()),
                Ok(Err(error)) => Some(format!("{error:#}")),
                Err(join) if join.is_panic() => Some("it panicked".to_owned()),
                Err(join) => Some(format!("it was cancelled: {join}")),
            };
            if let Some(error) = failure {
                tracing::error!(task, error, "a critical task stopped; stopping the process");
                shutdown.cancel();
            }
        });
    }

    /// Serves the mounted routes, with `/healthz`, `/readyz`, `/metrics` and `/v1/me`, on `listener` until shutdown;
    /// returns at once with the tracker of every task.
    pub fn serve(mut self, listener: TcpListener) -> Hosted {
        let router = std::mem::take(&mut self.router)
            .merge(http::ops_router(
                http::backends_ready(&self.deps),
                http::backends_live(&self.deps),
            ))
            .merge(crate::identity::router(self.deps.auth.clone()));
        let router = http::with_common_layers(router, &self.http, Some(self.deps.auth.clone()));
        let shutdown = self.shutdown.clone();
        let (config, tracker) = (self.http.clone(), self.tracker.clone());
        self.spawn_critical("http-server", async move {
            http::serve(listener, router, &config, shutdown, tracker).await?;
            Ok(())
        });
        self.spawn_critical(
            "health-watch",
            watch_health(self.deps.clone(), self.shutdown()),
        );
        self.tracker.close();
        Hosted {
            tracker: self.tracker,
        }
    }
}

/// Notes the state of the bus and the index in the health registry every 5 s, so that the time a store has been
/// failing counts from its first failure (within 5 s), not from the first probe that saw it.
async fn watch_health(deps: Deps, shutdown: CancellationToken) -> anyhow::Result<()> {
    loop {
        http::observe_backends(&deps).await;
        let health = deps.health.clone();
        tokio::task::spawn_blocking(move || health.heal()).await?;
        tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            () = tokio::time::sleep(std::time::Duration::from_secs(5)) => {}
        }
    }
}

/// Checks a numeric setting of a service's `Config` at start: `Err` names the key (`indexer.batch_size must be at
/// least 1`). Every service's `Config::validate` is made of these.
///
/// # Errors
/// When `value` is below `min`.
pub fn at_least(key: &str, value: u64, min: u64) -> Result<(), String> {
    if value < min {
        return Err(format!("{key} must be at least {min} (is {value})"));
    }
    Ok(())
}
