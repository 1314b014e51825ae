-- wrk: POST one authorization code per request to a token endpoint (the code exchange
-- of crates/server/benches/provider.rs). Codes come from the file CODES_FILE, one per
-- line; with WRK_THREADS threads, thread t takes codes t, t + WRK_THREADS, … so none is
-- spent twice. A thread out of codes stops. Client authentication: the AUTHORIZATION
-- header's value; REDIRECT_URI and CODE_VERIFIER complete the form.

local counter = 0

function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
end

local codes = {}
local next_index = 0
local stride = 1
local body_tail = ""

local function urlencode(s)
  return (s:gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", string.byte(c)) end))
end

function init(args)
  for line in io.lines(os.getenv("CODES_FILE")) do
    if line ~= "" then codes[#codes + 1] = line end
  end
  stride = tonumber(os.getenv("WRK_THREADS")) or 1
  next_index = tid + 1
  body_tail = "&redirect_uri=" .. urlencode(os.getenv("REDIRECT_URI"))
    .. "&code_verifier=" .. urlencode(os.getenv("CODE_VERIFIER"))
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
  wrk.headers["Authorization"] = os.getenv("AUTHORIZATION")
end

function request()
  local code = codes[next_index]
  if code == nil then
    wrk.thread:stop()
    code = "spent"
  end
  next_index = next_index + stride
  return wrk.format(nil, nil, nil, "grant_type=authorization_code&code=" .. urlencode(code) .. body_tail)
end
