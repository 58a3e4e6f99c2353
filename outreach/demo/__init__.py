"""``outreach demo``: a synthetic city's agency feeds for a month, run through the real service.

- ``city``: the seeded generator (households, their feeds, a few malformed messages, and what a
  home visit would find in each household);
- ``policy``: the demo's policy file (timers of seconds instead of days);
- ``publisher``: publishes the feeds to the agency topics, a simulated day at a time;
- ``caseworkers``: simulated caseworkers and a supervisor acting through the HTTP API;
- ``summary``: what happened, read back from the database;
- ``runner``: the whole demo on the embedded (or configured) stack.
"""
