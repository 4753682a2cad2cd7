//! Active health checks: for every pool whose endpoint config has a `healthCheck`, a task
//! probes each member with `GET <member URL><path>` every interval and marks it up or down
//! in the pool (see [`crate::compiled::UpstreamPool::record_probe`]).
//!
//! The probes of one configuration version run while that version is in use: each task
//! stops at its next tick once the gateway holds another version (whose own tasks take
//! over). The tasks belong to the proxy ([`Proxy::end_probes`]): when the gateway's listeners
//! have drained they are stopped, even mid-probe, and waited for.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwapOption;

use crate::compiled::{CompiledConfig, UpstreamPool};
use crate::proxy::Proxy;

/// Starts the probes of `config` (a no-op when none of its pools is health-checked).
pub fn spawn(
    current: Arc<ArcSwapOption<CompiledConfig>>,
    config: &Arc<CompiledConfig>,
    proxy: Arc<Proxy>,
) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    if proxy.probes_stop.is_cancelled() {
        return;
    }
    for (entry, key_type) in config.health_checked.iter().cloned() {
        let (current, task_proxy) = (current.clone(), proxy.clone());
        let stop = proxy.probes_stop.clone();
        let weak = Arc::downgrade(config);
        let probes = async move {
            let Some(pool) = entry.pool(key_type) else {
                return;
            };
            let Some(interval) = pool.health_check().map(|c| c.interval_ms) else {
                return;
            };
            loop {
                tokio::time::sleep(Duration::from_millis(interval)).await;
                let in_use = weak.upgrade().is_some_and(|mine| {
                    current
                        .load()
                        .as_ref()
                        .is_some_and(|c| Arc::ptr_eq(c, &mine))
                });
                if !in_use {
                    return;
                }
                probe_all(&task_proxy, pool, &entry.name).await;
            }
        };
        proxy.probes.spawn_on(
            async move {
                tokio::select! {
                    () = probes => {}
                    () = stop.cancelled() => {}
                }
            },
            &runtime,
        );
    }
}

async fn probe_all(proxy: &Proxy, pool: &UpstreamPool, api: &str) {
    let Some(check) = pool.health_check() else {
        return;
    };
    let timeout = Duration::from_millis(check.timeout_ms);
    for (index, member) in pool.members.iter().enumerate() {
        let uri = http::Uri::builder()
            .scheme(member.scheme.clone())
            .authority(member.authority.clone())
            .path_and_query(format!("{}{}", member.base_path, check.path))
            .build();
        let healthy = match uri {
            Ok(uri) => proxy.probe(uri, timeout, member.http2).await,
            Err(_) => false,
        };
        if !healthy {
            tracing::debug!(%api, upstream = %member.authority, "health check failed");
        }
        pool.record_probe(index, healthy);
    }
}
