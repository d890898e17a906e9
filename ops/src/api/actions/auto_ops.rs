//! Automated O&M tasks: scripts a bastion runs on hosts by itself, on a schedule, whose runs an
//! approver allows. Portunus runs nothing on a host that an engineer did not type (every
//! session is a person's), so there is no task to show or approve: the listing of waiting task
//! approvals answers, truthfully, empty, and the actions on a task are refused with why. O&M
//! approval of engineers' logons is `CreateOperationTicket` / `AcceptOperationTicket`.

use crate::api::call::{page, Call};
use crate::api::error::{ApiError, ApiResult};
use crate::api::table::{action, opt, Action, Ty};

const NO_TASKS: &str = "Portunus runs no automated O&M tasks (scripts run on hosts on a schedule), so there is no task to show or approve; approvals of engineers' logons are CreateOperationTicket and AcceptOperationTicket";

pub static ACTIONS: &[Action] = &[
    action!(
        "ListTodoOpsTaskApprovals",
        Read,
        todo,
        "Answers an empty list: Portunus runs no automated O&M tasks.",
        [
            opt("ProjectId", Ty::Id),
            opt("Keyword", Ty::Str),
            opt("ScheduleType", Ty::Str),
            opt("PageNumber", Ty::Int),
            opt("PageSize", Ty::Int),
        ]
    ),
    action!(
        "AllowOperationTaskApproval",
        Write,
        refuse,
        "Refused: Portunus runs no automated O&M tasks.",
        [opt("ApproveId", Ty::Str), opt("ProjectId", Ty::Id)]
    ),
    action!(
        "RejectOperationTaskApproval",
        Write,
        refuse,
        "Refused: Portunus runs no automated O&M tasks.",
        [opt("ApproveId", Ty::Str), opt("ProjectId", Ty::Id)]
    ),
    action!(
        "GetAutoOpsTask",
        Read,
        refuse,
        "Refused: Portunus runs no automated O&M tasks.",
        [opt("TaskId", Ty::Str), opt("ProjectId", Ty::Id)]
    ),
];

/// An empty list, for a project that exists (Keyword and ScheduleType filter nothing out of
/// nothing).
async fn todo(c: &Call) -> ApiResult {
    c.p.page()?;
    if let Some(id) = super::projects::project_param(c, "ProjectId")? {
        c.read(|s| super::projects::project_exists(s, id)).await??;
    }
    Ok(page("Approves", Vec::new(), 0))
}

async fn refuse(_c: &Call) -> ApiResult {
    Err(ApiError::Inapplicable(NO_TASKS))
}
