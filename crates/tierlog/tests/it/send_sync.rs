//! The store is shared between threads (`Arc<Store>`), and what it hands out can be sent to
//! another thread: checked at compile time, so a field that is not thread-safe fails the build.

use tierlog::{
    BucketResult, Config, Error, MaintainReport, QueryIter, QueryResult, RetentionReport, Selector,
    Store, StoreStats, WriteSummary,
};

fn send_sync<T: Send + Sync>() {}
fn send<T: Send>() {}

#[test]
fn store_is_send_and_sync() {
    send_sync::<Store>();
    send_sync::<Config>();
    send_sync::<Selector>();
}

#[test]
fn results_and_errors_are_send() {
    send::<QueryResult>();
    send::<QueryIter<'static>>();
    send::<BucketResult>();
    send::<WriteSummary>();
    send::<MaintainReport>();
    send::<RetentionReport>();
    send::<StoreStats>();
    // Errors can cross threads and be boxed as `dyn Error + Send + Sync`.
    send_sync::<Error>();
    let _: Box<dyn std::error::Error + Send + Sync> = Box::new(Error::ReadOnly);
}
