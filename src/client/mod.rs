//! The one client for the bank API, built from small layers (docs/ARCHITECTURE.md).
//!
//! Every call to the bank goes through a [`BankClient`]: an [`Operation`] (read the balance,
//! list transfers, make a transfer) passes down a stack of [`Layer`]s to the [`Transport`],
//! and the answer comes back up the same way. Each layer owns one concern and can be read
//! alone:
//!
//! 1. [`credentials::Credentials`] — which token the request carries: `BANK_TOKEN`, or the
//!    stored login (refreshed first when it has expired);
//! 2. [`step_up::StepUp`] — on a step-up challenge (`403 insufficient_scope`, RFC 9470
//!    `401 insufficient_user_authentication`), authorize again with what the challenge
//!    names and retry the same operation exactly once with that single-use token;
//! 3. [`refresh::Refresh`] — on `401 invalid_token`, refresh the stored login once and
//!    retry once;
//! 4. [`resend::Resend`] — a transfer whose answer was lost on the way (the connection
//!    broke after it was sent) is sent once more, the same request under the same key;
//! 5. [`dpop::Dpop`] — a proof on every request whose token is bound to a key (RFC 9449),
//!    and one retry when the API demands its nonce;
//! 6. the [`Transport`] — HTTP, and what each answer means ([`ApiError`]).
//!
//! An [`Observer`] sees every request, response, challenge and authorization step as it
//! happens: `-v` prints them, and `bank demo` narrates the story from them.

pub mod credentials;
pub mod dpop;
mod error;
pub mod observer;
pub mod refresh;
mod request;
pub mod resend;
pub mod session;
pub mod step_up;
mod transport;

use bank_protocol::{
    Balance, BatchOrder, BatchReceipt, IdempotencyKey, TransferList, TransferOrder, TransferReceipt,
};
use std::future::Future;
use std::pin::Pin;

use serde::de::DeserializeOwned;
use serde_json::Value;

pub use error::{ApiError, ClientError, NotPossible, SessionError, StepUpError};
pub use observer::{Event, Observer, Silent};
pub use request::{ApiRequest, ApiResponse, Credential, Operation};
pub use session::Session;
pub use transport::Transport;

/// A layer is one async function, `handle(request, next)`, in the manner of
/// reqwest-middleware and xh's middleware: it may change the request, call `next.run` once,
/// or — the point of the retry layers — call it a second time with a new request, and it
/// sees the answer before the layer above it does.
pub trait Layer {
    fn handle<'a>(
        &'a self,
        request: ApiRequest,
        next: Next<'a>,
    ) -> BoxFuture<'a, Result<ApiResponse, ClientError>>;
}

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

/// The rest of the stack below a layer.
#[derive(Clone, Copy)]
pub struct Next<'a> {
    layers: &'a [Box<dyn Layer + 'a>],
    transport: &'a Transport,
    observer: &'a dyn Observer,
}

impl<'a> Next<'a> {
    fn new(
        layers: &'a [Box<dyn Layer + 'a>],
        transport: &'a Transport,
        observer: &'a dyn Observer,
    ) -> Next<'a> {
        Next {
            layers,
            transport,
            observer,
        }
    }

    /// Passes `request` to the next layer, or sends it when none is left.
    pub async fn run(self, request: ApiRequest) -> Result<ApiResponse, ClientError> {
        match self.layers.split_first() {
            Some((layer, rest)) => {
                layer
                    .handle(
                        request,
                        Next {
                            layers: rest,
                            ..self
                        },
                    )
                    .await
            }
            None => self.transport.send(request, self.observer).await,
        }
    }

    /// Tells the observer what a layer is doing.
    pub fn observe(&self, event: Event<'_>) {
        self.observer.event(&event);
    }

    pub fn observer(&self) -> &'a dyn Observer {
        self.observer
    }

    /// The URL `operation` is sent to (`None` if the base is no URL: then the transport
    /// fails the request before anything is sent).
    pub fn url_of(&self, operation: &Operation) -> Option<url::Url> {
        self.transport.url_of(operation)
    }
}

/// A stack of layers over one transport, reporting to one observer.
pub struct BankClient<'a> {
    transport: Transport,
    layers: Vec<Box<dyn Layer + 'a>>,
    observer: &'a dyn Observer,
}

/// Assembles a [`BankClient`], outermost layer first.
pub struct Builder<'a> {
    client: BankClient<'a>,
}

impl<'a> Builder<'a> {
    /// Adds a layer below the ones added so far.
    pub fn layer(mut self, layer: impl Layer + 'a) -> Builder<'a> {
        self.client.layers.push(Box::new(layer));
        self
    }

    pub fn observer(mut self, observer: &'a dyn Observer) -> Builder<'a> {
        self.client.observer = observer;
        self
    }

    pub fn build(self) -> BankClient<'a> {
        self.client
    }
}

/// A successful read: the typed answer, and the API's object as sent (what `--json`
/// prints, unchanged).
#[derive(Clone, Debug)]
pub struct Fetched<T> {
    pub value: T,
    pub raw: Value,
}

/// A transfer the bank made (or, on an idempotent replay, had made before).
#[derive(Clone, Debug)]
pub struct TransferDone {
    pub receipt: TransferReceipt,
    pub raw: Value,
    /// `Idempotent-Replayed: true`: the key was used before; no money moved now.
    pub replayed: bool,
    /// The first answer was lost and this one came to the resend of the same request
    /// ([`resend::Resend`]): a replay then may be of this very call's transfer.
    pub recovered: bool,
}

/// A batch the bank made (or, on an idempotent replay, had made before): as [`TransferDone`].
#[derive(Clone, Debug)]
pub struct BatchDone {
    pub receipt: BatchReceipt,
    pub raw: Value,
    pub replayed: bool,
    pub recovered: bool,
}

impl<'a> BankClient<'a> {
    /// A client for the API at `base`; with no layers it sends what it is given.
    pub fn builder(http: reqwest::Client, base: &str) -> Builder<'a> {
        Builder {
            client: BankClient {
                transport: Transport::new(http, base),
                layers: Vec::new(),
                observer: &Silent,
            },
        }
    }

    /// Sends one request down the stack.
    pub async fn send(&self, request: ApiRequest) -> Result<ApiResponse, ClientError> {
        Next::new(&self.layers, &self.transport, self.observer)
            .run(request)
            .await
    }

    /// `GET /v1/balance`.
    pub async fn balance(&self) -> Result<Fetched<Balance>, ClientError> {
        self.fetch(Operation::Balance).await
    }

    /// `GET /v1/transfers`, newest first.
    pub async fn history(&self, limit: Option<u32>) -> Result<Fetched<TransferList>, ClientError> {
        self.fetch(Operation::History { limit }).await
    }

    /// `POST /v1/transfers` with an `Idempotency-Key`: the same key with the same order is
    /// answered with the original transfer, so a retry never moves money twice.
    pub async fn transfer(
        &self,
        order: &TransferOrder,
        key: &IdempotencyKey,
    ) -> Result<TransferDone, ClientError> {
        let response = self
            .send(ApiRequest::new(Operation::Transfer {
                body: order.to_request(),
                key: key.clone(),
            }))
            .await?;
        Ok(TransferDone {
            receipt: typed(&response.body)?,
            raw: response.body,
            replayed: response.replayed,
            recovered: response.recovered,
        })
    }

    /// `POST /v1/transfer-batches` with one `Idempotency-Key` for the whole batch: all of
    /// it or nothing, and the same key with the same batch is answered with its receipts.
    pub async fn transfer_batch(
        &self,
        batch: &BatchOrder,
        key: &IdempotencyKey,
    ) -> Result<BatchDone, ClientError> {
        let response = self
            .send(ApiRequest::new(Operation::TransferBatch {
                body: batch.to_request(),
                key: key.clone(),
            }))
            .await?;
        Ok(BatchDone {
            receipt: typed(&response.body)?,
            raw: response.body,
            replayed: response.replayed,
            recovered: response.recovered,
        })
    }

    async fn fetch<T: DeserializeOwned>(
        &self,
        operation: Operation,
    ) -> Result<Fetched<T>, ClientError> {
        let response = self.send(ApiRequest::new(operation)).await?;
        Ok(Fetched {
            value: typed(&response.body)?,
            raw: response.body,
        })
    }
}

/// A success body in the contract's shape, or an [`ApiError::UnexpectedResponse`].
fn typed<T: DeserializeOwned>(body: &Value) -> Result<T, ClientError> {
    T::deserialize(body).map_err(|e| {
        ClientError::Api(ApiError::UnexpectedResponse {
            status: 200,
            what: format!("the answer does not have the expected fields ({e})"),
        })
    })
}
