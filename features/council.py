"""A made-up council for the monthly features, tests and bench: areas, teams, managers, children."""

from __future__ import annotations

from datetime import date

from engine import Engine, org
from engine.roles import CPP, HOS_SPQA, SLT

AREAS = ("Children in Need and Child Protection", "Children in Care")


def build(engine: Engine, teams_per_area: int = 2, workers_per_team: int = 2) -> dict[str, list[str]]:
    """Create areas, each with a Head of Service, a Service Manager and teams of a Team Manager
    and practitioners; plus CPP, HoS SPQA and the SLT. Return usernames by kind."""
    made: dict[str, list[str]] = {"practitioners": [], "managers": [], "teams": [], "cpp": []}
    with engine.transaction() as s:
        director = org.add_person(s, "dcs", "Dee Carter", job_title="Director", roles=(SLT,))
        spqa = org.add_person(s, "spqa", "Sita Patel", job_title="HoS SPQA", manager=director,
                              roles=(HOS_SPQA,))
        for name in ("cpp1", "cpp2"):
            org.add_person(s, name, f"CPP {name[-1]}", job_title="QA Officer", manager=spqa,
                           roles=(CPP,))
            made["cpp"].append(name)
        made["managers"] += ["dcs", "spqa"]
        for a, area_name in enumerate(AREAS, start=1):
            area = org.add_service_area(s, area_name)
            hos = org.add_person(s, f"hos{a}", f"Head {a}", job_title="Head of Service",
                                 manager=director)
            area.head_id = hos.id
            sm = org.add_person(s, f"sm{a}", f"Service Manager {a}", job_title="Service Manager",
                                manager=hos)
            made["managers"] += [hos.username, sm.username]
            for t in range(1, teams_per_area + 1):
                team = org.add_team(s, f"Team {a}.{t}", area)
                made["teams"].append(team.name)
                tm = org.add_person(s, f"tm{a}{t}", f"Team Manager {a}.{t}",
                                    job_title="Team Manager", manager=sm, team=team)
                made["managers"].append(tm.username)
                for w in range(1, workers_per_team + 1):
                    sw = org.add_person(s, f"sw{a}{t}{w}", f"Worker {a}.{t}.{w}",
                                        job_title="Social Worker", manager=tm, team=team)
                    made["practitioners"].append(sw.username)
    return made


def register_csv(rows: list[tuple[str, str, str, str, str, str]], extra: str = "") -> str:
    """A register file in the case-management export's columns."""
    head = "Reference,Service area,Team,Allocated practitioner,Status,Start date" + extra + "\n"
    return head + "".join(",".join(r) + "\n" for r in rows)


def children(count: int, teams_per_area: int = 2, workers_per_team: int = 2,
             start: date = date(2025, 1, 6)) -> str:
    """`count` children spread over every practitioner of `build`, statuses in turn."""
    rows = []
    workers = [(a, t, w) for a in range(1, len(AREAS) + 1) for t in range(1, teams_per_area + 1)
               for w in range(1, workers_per_team + 1)]
    for i in range(count):
        a, t, w = workers[i % len(workers)]
        status = ("CIN", "CP", "CiC")[i % 3] if a == 1 else "CiC"
        rows.append((f"DUD-{1000 + i}", AREAS[a - 1], f"Team {a}.{t}", f"sw{a}{t}{w}", status,
                     start.isoformat()))
    return register_csv(rows)
