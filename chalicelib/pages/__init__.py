"""Everything that returns a web.Answer: public pages, admin pages, the JSON API and CSV.

Pages decode requests, call services and render what they return. They hold no
storage logic of their own.
"""
