-- When a team assigns in turn, the router counts each member's open
-- conversations in the team before every batch. Through the team's index
-- that read every open conversation of the team, the unassigned queue
-- included, and looked each row up; with the team in this index the count
-- reads only the members' own entries.
DROP INDEX conversations_assignee;
CREATE INDEX conversations_assignee ON conversations (assignee, status, team);
