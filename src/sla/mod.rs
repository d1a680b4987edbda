//! The SLA clock: when a conversation's next human step is due. This part
//! owns business hours (`hours`), the arithmetic that makes the clock stand
//! still outside them. Policies, targets, breaches and escalations are built
//! on top of it elsewhere in this module tree.

pub mod clock;
pub mod hours;
pub mod report;
pub mod worker;

use sqlx::Any;

use crate::clock::Millis;
use crate::store::StoreResult;
use clock::SlaClock;

/// Sets (or, with `None`, stops) a conversation's clock. The worker finds
/// it again at `next_check_at`, its at-risk instant.
pub(crate) async fn write_clock<'c, E>(
    executor: E,
    conversation_id: &str,
    clock: Option<SlaClock>,
) -> StoreResult<()>
where
    E: sqlx::Executor<'c, Database = Any>,
{
    let at: Option<Millis> = clock.and_then(|c| c.next_check(None));
    sqlx::query(
        "UPDATE conversations SET sla_target = $1, at_risk_at = $2, due_at = $3, level2_at = $4, next_check_at = $5 WHERE id = $6",
    )
    .bind(clock.map(|c| c.target.as_str()))
    .bind(clock.map(|c| c.at_risk_at))
    .bind(clock.map(|c| c.due_at))
    .bind(clock.map(|c| c.level2_at))
    .bind(at)
    .bind(conversation_id)
    .execute(executor)
    .await?;
    Ok(())
}
