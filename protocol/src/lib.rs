//! The bank API's wire contract, shared by the `bank` CLI and the sandbox's bank API.
//!
//! Everything both sides must agree on lives here once: the JSON bodies of the API
//! ([`transfer`], [`Balance`], [`batch`]), what a step-up approves ([`approval`]), the RFC 9457 problem body ([`Problem`]), the money grammar
//! and limit ([`money`]), the rules for handles, currencies and memos ([`text`]), the
//! `Idempotency-Key` rule, the scope names ([`scopes`]), and which URLs may carry a token
//! at all ([`https`]), and the RFC 9449 thumbprint and token hash ([`dpop`]). The CLI checks what a person
//! typed with the same functions the API uses to refuse it, so the two cannot drift apart:
//! a typo fails locally with the message the bank would have sent.

pub mod approval;
pub mod batch;
pub mod details;
pub mod dpop;
pub mod https;
pub mod money;
pub mod problem;
pub mod scopes;
pub mod text;
pub mod transfer;

pub use approval::{
    Approval, DetailLimits, NoBatchApproval, PAYMENT_BATCH, PaymentBatch, parse_granted_details,
    parse_request_details,
};
pub use batch::{
    BatchOrder, BatchReceipt, DEFAULT_MAX_BATCH_PAYMENTS, DEFAULT_MAX_INLINE_PAYMENTS,
    InvalidBatch, InvalidPayment, PaymentProblem, TransferBatchRequest,
};
pub use details::{
    InstructedAmount, InvalidDetails, Mismatch, PAYMENT_INITIATION, PaymentInitiation,
};
pub use money::{Amount, AmountError, DEFAULT_TRANSFER_LIMIT_MINOR, format_minor, group_thousands};
pub use problem::Problem;
pub use transfer::{
    Balance, IdempotencyKey, InvalidTransfer, TransferList, TransferOrder, TransferReceipt,
    TransferRequest, TransferView,
};
