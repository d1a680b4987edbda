//! The routing table and agent assignment rules, from configuration.

use crate::config::{Assignment, Config, TeamConfig};
use crate::model::Category;

/// Where a reply goes, and why, in words for the conversation log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteDecision {
    pub team: Option<String>,
    pub reason: String,
}

#[derive(Debug, Clone, Copy)]
pub struct RouteInput<'a> {
    pub category: Category,
    pub channel: &'a str,
    pub lang: Option<&'a str>,
    pub journey: Option<&'a str>,
}

/// Picks the team: the first route whose filters all match, else the
/// default team, else none.
pub fn route(config: &Config, input: RouteInput<'_>) -> RouteDecision {
    let hit = config.routes.iter().enumerate().find(|(_, r)| {
        r.category == input.category
            && r.channel.as_deref().is_none_or(|c| c == input.channel)
            && r.lang.as_deref().is_none_or(|l| Some(l) == input.lang)
            && r.journey
                .as_deref()
                .is_none_or(|j| Some(j) == input.journey)
    });
    match (hit, &config.routing.default_team) {
        (Some((i, r)), _) => RouteDecision {
            team: Some(r.team.clone()),
            reason: format!(
                "category {} matched route #{} → team {}",
                input.category,
                i + 1,
                r.team
            ),
        },
        (None, Some(team)) => RouteDecision {
            team: Some(team.clone()),
            reason: format!(
                "no route for category {}; default team {team}",
                input.category
            ),
        },
        (None, None) => RouteDecision {
            team: None,
            reason: format!(
                "no route for category {} and no default team: left unassigned",
                input.category
            ),
        },
    }
}

/// An agent's current load as the round-robin sees it.
#[derive(Debug, Clone)]
pub struct AgentLoad {
    pub email: String,
    pub open: u32,
    pub away: bool,
}

/// The next agent in turn after `last`, skipping agents who are away or at
/// capacity. `None` when the team works as a queue or nobody is free.
pub fn next_agent(team: &TeamConfig, loads: &[AgentLoad], last: Option<&str>) -> Option<String> {
    if team.assignment != Assignment::RoundRobin || team.members.is_empty() {
        return None;
    }
    let start = last
        .and_then(|l| team.members.iter().position(|m| m == l))
        .map_or(0, |p| p + 1);
    let n = team.members.len();
    (0..n)
        .map(|k| &team.members[(start + k) % n])
        .find(|member| {
            let load = loads.iter().find(|l| &l.email == *member);
            let away = load.is_some_and(|l| l.away);
            let open = load.map_or(0, |l| l.open);
            !away && team.capacity.is_none_or(|cap| open < cap)
        })
        .cloned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn config(text: &str) -> Config {
        let c = Config::from_toml(text, Path::new("t")).unwrap();
        c.validate().unwrap();
        c
    }

    const TEAMS: &str = r#"
[[team]]
name = "sales"
members = ["a@x", "b@x", "c@x"]
assignment = "round_robin"
capacity = 2

[[team]]
name = "service"

[[team]]
name = "nl"

[[route]]
category = "interest"
lang = "nl"
team = "nl"

[[route]]
category = "interest"
team = "sales"

[[route]]
category = "service"
team = "service"
"#;

    #[test]
    fn the_first_matching_route_wins_and_filters_narrow_it() {
        let c = config(TEAMS);
        let input = |lang| RouteInput {
            category: Category::Interest,
            channel: "main",
            lang,
            journey: None,
        };
        assert_eq!(route(&c, input(Some("nl"))).team.as_deref(), Some("nl"));
        assert_eq!(route(&c, input(Some("en"))).team.as_deref(), Some("sales"));
        assert_eq!(route(&c, input(None)).team.as_deref(), Some("sales"));
        let confusion = RouteInput {
            category: Category::Confusion,
            channel: "main",
            lang: None,
            journey: None,
        };
        assert_eq!(route(&c, confusion).team, None);
    }

    #[test]
    fn round_robin_takes_turns_and_skips_away_and_full_agents() {
        let c = config(TEAMS);
        let team = c.team("sales").unwrap();
        let load = |email: &str, open, away| AgentLoad {
            email: email.into(),
            open,
            away,
        };
        let loads = vec![
            load("a@x", 0, false),
            load("b@x", 0, true),
            load("c@x", 2, false),
        ];
        assert_eq!(next_agent(team, &loads, None).as_deref(), Some("a@x"));
        assert_eq!(
            next_agent(team, &loads, Some("a@x")).as_deref(),
            Some("a@x"),
            "b is away, c is full"
        );
        let free = vec![
            load("a@x", 0, false),
            load("b@x", 0, false),
            load("c@x", 0, false),
        ];
        assert_eq!(next_agent(team, &free, Some("a@x")).as_deref(), Some("b@x"));
        assert_eq!(next_agent(team, &free, Some("c@x")).as_deref(), Some("a@x"));
        let full = vec![
            load("a@x", 2, false),
            load("b@x", 2, false),
            load("c@x", 2, false),
        ];
        assert_eq!(next_agent(team, &full, None), None);
        assert_eq!(
            next_agent(c.team("service").unwrap(), &free, None),
            None,
            "queue teams are not assigned"
        );
    }
}
