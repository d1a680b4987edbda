//! The counters kept per send and summed per day: one list, so the facts
//! table, the rollup, the SQL and the Rust struct cannot drift apart.

macro_rules! counts {
    ($($(#[$doc:meta])* $name:ident),+ $(,)?) => {
        /// What became of registered sends. For one send each counter is 0
        /// or 1 (or a count, for replies and conversions); for a group it
        /// is the sum over its sends.
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
        pub struct Counts {
            $($(#[$doc])* pub $name: i64),+
        }

        impl Counts {
            /// Column names, in the order of [`Counts::values`].
            pub const NAMES: &'static [&'static str] = &[$(stringify!($name)),+];

            pub fn values(&self) -> Vec<i64> {
                vec![$(self.$name),+]
            }

            pub fn from_values(values: &[i64]) -> Counts {
                let mut it = values.iter().copied();
                Counts { $($name: it.next().unwrap_or(0)),+ }
            }

            pub fn add(&mut self, other: &Counts) {
                $(self.$name += other.$name;)+
            }
        }
    };
}

counts!(
    /// Registered sends.
    sent,
    /// Sends with a delivered (or read) status.
    delivered,
    read,
    /// Sends that failed and were never delivered.
    failed,
    /// Failed: the number cannot be reached or blocked the business.
    f_unreachable,
    /// Failed: the customer had stopped (marketing) messages.
    f_opt_out,
    /// Failed: the message itself (template, parameters).
    f_content,
    /// Failed: outside the customer service window.
    f_window,
    /// Failed: rate limits, temporary or unknown errors.
    f_transient,
    /// Failed: the business account (payment, locked).
    f_account,
    /// Replies attributed to the send.
    replies,
    r_opt_out,
    r_interest,
    r_confusion,
    r_service,
    r_noise,
    /// Sends with at least one reply.
    replied,
    /// Sends answered with an opt-out.
    opted_out,
    /// Conversions attributed to the send.
    conversions,
    /// Sends with at least one conversion.
    converted,
    /// Delivered, or replied to (a reply shows the message arrived).
    reached,
    reached_converted,
    replied_converted,
    /// Failed sends whose fallback notice was queued.
    fallback_queued,
    /// … and delivered to the sending platform, which used the fallback channel.
    fallback_delivered,
    /// … and converted all the same.
    fallback_converted,
    /// Failed sends with no fallback.
    failed_no_fallback,
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_values_line_up() {
        let c = Counts {
            sent: 3,
            failed_no_fallback: 7,
            ..Counts::default()
        };
        let values = c.values();
        assert_eq!(values.len(), Counts::NAMES.len());
        assert_eq!(Counts::from_values(&values), c);
        let mut sum = c;
        sum.add(&c);
        assert_eq!((sum.sent, sum.failed_no_fallback), (6, 14));
    }
}
