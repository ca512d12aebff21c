-- The container's configuration: accounts and secrets come from the environment.
local accounts = {}
if env("MASTODON_BASE_URL", false) then
  accounts[#accounts + 1] = { platform = "mastodon", name = env("MASTODON_NAME", "mastodon"),
    base_url = env("MASTODON_BASE_URL"), token = env("MASTODON_TOKEN") }
end
if env("BLUESKY_IDENTIFIER", false) then
  accounts[#accounts + 1] = { platform = "bluesky", name = env("BLUESKY_NAME", "bluesky"),
    pds_url = env("BLUESKY_PDS_URL", "https://bsky.social"),
    jetstream_url = env("BLUESKY_JETSTREAM_URL", "wss://jetstream2.us-east.bsky.network/subscribe"),
    identifier = env("BLUESKY_IDENTIFIER"), password = env("BLUESKY_APP_PASSWORD") }
end
return {
  store = env("SWITCHBOARD_STORE", "/var/lib/switchboard/switchboard.db"),
  policy = env("SWITCHBOARD_POLICY", "/etc/switchboard/policies"),
  console = {
    listen = env("CONSOLE_LISTEN", "0.0.0.0:8080"),
    origin = env("CONSOLE_ORIGIN", "http://localhost:8080"), -- the URL agents open
    web = env("CONSOLE_WEB", "/usr/share/switchboard/web"),
  },
  accounts = accounts,
}
