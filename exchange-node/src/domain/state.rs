//! The case state machine: which action a case's state allows and what it leads to. Pure: the
//! workflow applies it, the store keeps its result.

use super::*;

/// The most working days one extension may ask for.
pub const MAX_EXTENSION_WORKING_DAYS: u32 = 60;

/// What happens to a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaseAction {
    /// The recipient's receipt arrived (requester side) or the message was stored (recipient side).
    Deliver,
    Accept,
    Respond,
    Redirect,
    Withdraw,
    Close,
    /// The recipient refused the opening message as invalid.
    Reject,
}

/// A transition the state machine does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a case in state {} cannot be {}", state_label(*.from), action_label(*.action))]
pub struct TransitionError {
    pub from: CaseState,
    pub action: CaseAction,
}

/// The state after `action`, or why not. `Deliver` after the case moved on keeps its state:
/// receipts can lag behind the recipient's answer.
pub fn next_state(from: CaseState, action: CaseAction) -> Result<CaseState, TransitionError> {
    use CaseState::*;
    let open = matches!(from, Queued | Delivered | Accepted);
    let to = match action {
        CaseAction::Deliver => match from {
            Queued => Some(Delivered),
            Unspecified => None,
            other => Some(other),
        },
        CaseAction::Accept => matches!(from, Queued | Delivered).then_some(Accepted),
        CaseAction::Respond => open.then_some(Responded),
        CaseAction::Redirect => open.then_some(Redirected),
        CaseAction::Withdraw => open.then_some(Withdrawn),
        CaseAction::Close => (from == Responded).then_some(Closed),
        CaseAction::Reject => (from == Queued).then_some(Rejected),
    };
    to.ok_or(TransitionError { from, action })
}

/// True for states in which nothing more is expected.
pub fn is_terminal(state: CaseState) -> bool {
    matches!(
        state,
        CaseState::Closed | CaseState::Withdrawn | CaseState::Redirected | CaseState::Rejected
    )
}

pub(crate) fn action_label(action: CaseAction) -> &'static str {
    match action {
        CaseAction::Deliver => "delivered",
        CaseAction::Accept => "accepted",
        CaseAction::Respond => "answered",
        CaseAction::Redirect => "redirected",
        CaseAction::Withdraw => "withdrawn",
        CaseAction::Close => "closed",
        CaseAction::Reject => "rejected",
    }
}
