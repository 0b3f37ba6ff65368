//! `mpx.v1.Alerts`: deadline alerts for clerks and supervisors.

use std::pin::Pin;

use mpx_proto::runtime::operator_of;
use mpx_proto::v1::alerts_server::{Alerts, AlertsServer};
use mpx_proto::v1::{
    ListAlertsRequest, ListAlertsResponse, WatchAlertsRequest, WatchAlertsResponse,
};
use tokio::sync::broadcast::error::RecvError;
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use super::page_size;
use crate::monitor::{DeadlineMonitor, alert_to_proto};
use crate::store::{AlertCursor, Store};

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
        // Subscribe before reading the open ones, so nothing fired in between is missed.
        let live = self.monitor.subscribe();
        let mut open = Vec::new();
        if request.get_ref().include_open {
            // Every open alert, page by page, oldest first.
            let mut after: Option<AlertCursor> = None;
            loop {
                let page = self.store.list_alerts(true, 1000, after.as_ref()).await?;
                after = page.last().map(AlertCursor::of);
                let full = page.len() == 1000;
                open.extend(page.iter().map(alert_to_proto));
                if !full {
                    break;
                }
            }
            open.reverse();
        }
        Ok(Response::new(alert_stream(open, live)))
    }
}

/// The open alerts first, then each alert as the monitor fires it.
fn alert_stream(
    open: Vec<mpx_proto::v1::Alert>,
    mut live: tokio::sync::broadcast::Receiver<mpx_proto::v1::Alert>,
) -> AlertStream {
    let (sender, receiver) = tokio::sync::mpsc::channel(64);
    tokio::spawn(async move {
        for alert in open {
            if sender
                .send(Ok(WatchAlertsResponse { alert: Some(alert) }))
                .await
                .is_err()
            {
                return;
            }
        }
        loop {
            match live.recv().await {
                Ok(alert) => {
                    if sender
                        .send(Ok(WatchAlertsResponse { alert: Some(alert) }))
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
                Err(RecvError::Lagged(missed)) => {
                    tracing::warn!(
                        missed,
                        "an alert watcher fell behind; it missed some alerts (ListAlerts has them)"
                    );
                }
                Err(RecvError::Closed) => return,
            }
        }
    });
    Box::pin(tokio_stream::wrappers::ReceiverStream::new(receiver))
}
