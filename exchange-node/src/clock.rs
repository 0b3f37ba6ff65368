//! Time, injected: the system clock in production, a settable one in tests.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

/// A clock handle; cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    manual: Option<Arc<AtomicI64>>,
}

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Self { manual: None }
    }

    /// A clock that stands at `unix_ms` until set or advanced.
    pub fn manual(unix_ms: i64) -> Self {
        Self {
            manual: Some(Arc::new(AtomicI64::new(unix_ms))),
        }
    }

    /// Now, as Unix milliseconds.
    pub fn now_unix_ms(&self) -> i64 {
        match &self.manual {
            Some(value) => value.load(Ordering::SeqCst),
            None => mpx_proto::time::now_unix_ms(),
        }
    }

    /// Moves a manual clock forward (no effect on the system clock).
    pub fn advance_ms(&self, ms: i64) {
        if let Some(value) = &self.manual {
            value.fetch_add(ms, Ordering::SeqCst);
        }
    }

    /// Today's date in the province.
    pub fn today(&self) -> jiff::civil::Date {
        mpx_proto::time::date_of_unix_ms(self.now_unix_ms())
            .unwrap_or_else(mpx_proto::time::today_in_province)
    }
}
