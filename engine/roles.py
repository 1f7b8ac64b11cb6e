"""The roles a lane may name, and which of them are groups whose members claim tasks."""

AUDITOR = "Auditor"
PRACTITIONER = "Practitioner"
TEAM_MANAGER = "Team Manager"
SERVICE_MANAGER = "Service Manager"
HEAD_OF_SERVICE = "Head of Service"
HOS_SPQA = "HoS Safeguarding Practice and QA"
CPP = "CPP"
POLICY_OWNER = "Policy Owner"
SLT = "SLT"

ROLES = (
    AUDITOR, PRACTITIONER, TEAM_MANAGER, SERVICE_MANAGER, HEAD_OF_SERVICE, HOS_SPQA, CPP,
    POLICY_OWNER,
)
# Held by whoever in the organisation has the role; a member claims the task.
GROUP_ROLES = frozenset({HOS_SPQA, CPP, POLICY_OWNER})
# Held by the audit's own participant in that role.
PARTICIPANT_ROLES = (AUDITOR, PRACTITIONER, TEAM_MANAGER, SERVICE_MANAGER, HEAD_OF_SERVICE)
# Roles a person can be given in the organisation (beyond the line-management chain).
ORG_ROLES = frozenset({HOS_SPQA, CPP, POLICY_OWNER, SLT})
