//! Layer 1: the credential a request carries.
//!
//! Unless a layer above already chose one (the step-up retry does), the request gets the
//! session's credential: `BANK_TOKEN`, or the stored login, refreshed first when it has
//! expired. Without either, the call fails here: "not logged in" (exit 3).

use super::ClientError;
use super::request::ApiRequest;
use super::session::Session;
use super::{ApiResponse, BoxFuture, Layer, Next};

pub struct Credentials<'s> {
    session: &'s Session,
}

impl<'s> Credentials<'s> {
    pub fn new(session: &'s Session) -> Credentials<'s> {
        Credentials { session }
    }
}

impl Layer for Credentials<'_> {
    fn handle<'a>(
        &'a self,
        mut request: ApiRequest,
        next: Next<'a>,
    ) -> BoxFuture<'a, Result<ApiResponse, ClientError>> {
        Box::pin(async move {
            if request.credential.is_none() {
                request.credential = Some(self.session.credential(next.observer()).await?);
            }
            next.run(request).await
        })
    }
}
