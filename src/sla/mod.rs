//! The SLA clock: when a conversation's next human step is due. This part
//! owns business hours (`hours`), the arithmetic that makes the clock stand
//! still outside them. Policies, targets, breaches and escalations are built
//! on top of it elsewhere in this module tree.

pub mod hours;
