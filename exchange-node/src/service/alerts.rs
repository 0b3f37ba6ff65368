//! `mpx.v1.Alerts`: deadline alerts for clerks and supervisors.

use std::pin::Pin;

use mpx_proto::runtime::operator_of;
use mpx_proto::v1::alerts_server::{Alerts, AlertsServer};
use mpx_proto::v1::{
    Alert, ListAlertsRequest, ListAlertsResponse, WatchAlertsRequest, WatchAlertsResponse,
};
use tokio::sync::broadcast::error::RecvError;
use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status};

use super::page_size;
use crate::monitor::{DeadlineMonitor, alert_to_proto};
use crate::store::{AlertCursor, Store, StoreError};

#[derive(Debug, Clone)]
pub struct AlertsService {
    store: Store,
    monitor: DeadlineMonitor,
}

impl AlertsService {
    pub fn new(store: Store, monitor: DeadlineMonitor) -> Self {
        Self { store, monitor }
    }

    pub fn into_server(self) -> AlertsServer<Self> {
        AlertsServer::new(self)
    }
}

type AlertStream = Pin<Box<dyn Stream<Item = Result<WatchAlertsResponse, Status>> + Send>>;

#[tonic::async_trait]
impl Alerts for AlertsService {
    async fn list_alerts(
        &self,
        request: Request<ListAlertsRequest>,
    ) -> Result<Response<ListAlertsResponse>, Status> {
        operator_of(&request)?;
        let request = request.into_inner();
        let after = match request.page_token.as_str() {
            "" => None,
            token => Some(AlertCursor::parse(token).ok_or_else(|| {
                Status::invalid_argument(
                    "page_token: expected the next_page_token of a previous ListAlerts response",
                )
            })?),
        };
        let limit = page_size(request.page_size);
        let mut records = self
            .store
            .list_alerts(request.open_only, limit + 1, after.as_ref())
            .await?;
        let next_page_token = if records.len() > limit as usize {
            records.truncate(limit as usize);
            records
                .last()
                .map(|last| AlertCursor::of(last).token())
                .unwrap_or_default()
        } else {
            String::new()
        };
        let alerts = records.iter().map(alert_to_proto).collect();
        Ok(Response::new(ListAlertsResponse {
            alerts,
            next_page_token,
        }))
    }

    type WatchAlertsStream = AlertStream;

    async fn watch_alerts(
        &self,
        request: Request<WatchAlertsRequest>,
    ) -> Result<Response<Self::WatchAlertsStream>, Status> {
        operator_of(&request)?;
        let open_since = request.get_ref().include_open.then_some(i64::MIN);
        let watched = self.watch(open_since).await?;
        let responses =
            tokio_stream::wrappers::ReceiverStream::new(watched).filter_map(|event| match event {
                WatchedAlert::Raised(alert) => Some(Ok(WatchAlertsResponse { alert: Some(alert) })),
                WatchedAlert::Missed(missed) => {
                    tracing::warn!(
                        missed,
                        "an alert watcher fell behind; it missed some alerts (ListAlerts has them)"
                    );
                    None
                }
            });
        Ok(Response::new(Box::pin(responses)))
    }
}

/// What a watcher of alerts receives: an alert the monitor raised, or word that the watcher
/// fell behind the monitor's broadcast and this many alerts were dropped for it (they are in
/// the store; a reader shows them by listing again).
///
/// Only raised alerts are broadcast, never clears: a watcher learns that an alert was cleared
/// only by listing again.
#[derive(Debug, Clone)]
pub enum WatchedAlert {
    Raised(Alert),
    Missed(u64),
}

impl AlertsService {
    /// The one path to the monitor's live alerts (for `WatchAlerts` and the console's live
    /// page): first the open alerts raised at or after `open_since` (`i64::MIN` for all, `None`
    /// for none), oldest first, then each alert as the monitor raises it. Subscribes before
    /// reading the open ones, so nothing raised in between is missed (one raised then may come
    /// twice: once listed, once live). The forwarding task ends when the receiver is dropped,
    /// not only at the next alert.
    pub async fn watch(
        &self,
        open_since: Option<i64>,
    ) -> Result<tokio::sync::mpsc::Receiver<WatchedAlert>, StoreError> {
        let mut live = self.monitor.subscribe();
        let mut open = Vec::new();
        if let Some(since) = open_since {
            // Open alerts newest first, page by page, down to `since`.
            let mut after: Option<AlertCursor> = None;
            'pages: loop {
                let page = self.store.list_alerts(true, 1000, after.as_ref()).await?;
                after = page.last().map(AlertCursor::of);
                let full = page.len() == 1000;
                for record in &page {
                    if record.raised_at_unix_ms < since {
                        break 'pages;
                    }
                    open.push(alert_to_proto(record));
                }
                if !full {
                    break;
                }
            }
            open.reverse();
        }
        let (sender, receiver) = tokio::sync::mpsc::channel(64);
        tokio::spawn(async move {
            for alert in open {
                if sender.send(WatchedAlert::Raised(alert)).await.is_err() {
                    return;
                }
            }
            loop {
                let event = tokio::select! {
                    () = sender.closed() => return,
                    received = live.recv() => match received {
                        Ok(alert) => WatchedAlert::Raised(alert),
                        Err(RecvError::Lagged(missed)) => WatchedAlert::Missed(missed),
                        Err(RecvError::Closed) => return,
                    },
                };
                if sender.send(event).await.is_err() {
                    return;
                }
            }
        });
        Ok(receiver)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::clock::Clock;
    use crate::directory::DirectoryHandle;
    use crate::monitor::MonitorConfig;
    use crate::outbox::DeliveryNotifier;
    use crate::workflow::Workflow;
    use mpx_proto::division::CountyCode;

    /// What the console's live page relies on to reload instead of silently missing rows, and
    /// that a watcher that went away stops listening at once.
    #[tokio::test]
    async fn a_watcher_that_falls_behind_is_told_how_many_it_missed() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("node.db").display());
        let store = Store::connect(&url).await.unwrap();
        let (notifier, _wakeups) = DeliveryNotifier::channel();
        let workflow = Workflow::new(
            store.clone(),
            CountyCode::parse("621202").unwrap(),
            mpx_proto::resident_id::CheckDigitMode::Strict,
            DirectoryHandle::default(),
            notifier,
            Clock::manual(1_800_000_000_000),
        );
        let monitor = DeadlineMonitor::new(workflow, MonitorConfig::default());
        let alerts = AlertsService::new(store, monitor.clone());
        let mut watched = alerts.watch(None).await.unwrap();
        // One thread: the forwarding task does not run between these sends, so the broadcast
        // (1024 deep) overflows for it.
        for n in 0..1100 {
            let alert = Alert {
                alert_id: n.to_string(),
                ..Default::default()
            };
            monitor.fired.send(alert).unwrap();
        }
        match watched.recv().await {
            Some(WatchedAlert::Missed(missed)) => assert_eq!(missed, 1100 - 1024),
            other => panic!("expected Missed, got {other:?}"),
        }
        match watched.recv().await {
            Some(WatchedAlert::Raised(alert)) => assert_eq!(alert.alert_id, "76"),
            other => panic!("expected the oldest kept alert, got {other:?}"),
        }
        drop(watched);
        // A watcher whose task waits on an empty broadcast, then goes away.
        let idle = alerts.watch(None).await.unwrap();
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        drop(idle);
        for _ in 0..100 {
            if monitor.fired.receiver_count() == 0 {
                return;
            }
            tokio::task::yield_now().await;
        }
        panic!("the forwarding task still listens after its receiver was dropped");
    }
}
