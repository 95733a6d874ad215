# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_bank_global_optspecs
    string join \n profile= json no-input v/verbose h/help V/version
end

function __fish_bank_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_bank_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_bank_using_subcommand
    set -l cmd (__fish_bank_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c bank -n "__fish_bank_needs_command" -l profile -d 'Profile to use (default: BANK_PROFILE, else `default`); `bank config list --profiles` lists them' -r -f
complete -c bank -n "__fish_bank_needs_command" -l json -d 'Print machine-readable JSON on stdout'
complete -c bank -n "__fish_bank_needs_command" -l no-input -d 'Never prompt; fail instead of asking'
complete -c bank -n "__fish_bank_needs_command" -s v -l verbose -d 'More detail on stderr (repeat for more)'
complete -c bank -n "__fish_bank_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c bank -n "__fish_bank_needs_command" -s V -l version -d 'Print version'
complete -c bank -n "__fish_bank_needs_command" -f -a "login" -d 'Sign in through your browser, or with a code on another device'
complete -c bank -n "__fish_bank_needs_command" -f -a "logout" -d 'Sign out: revoke the refresh token and delete the stored tokens'
complete -c bank -n "__fish_bank_needs_command" -f -a "status" -d 'Show the login state of the current profile'
complete -c bank -n "__fish_bank_needs_command" -f -a "balance" -d 'Show the account balance'
complete -c bank -n "__fish_bank_needs_command" -f -a "history" -d 'Show recent transfers, newest first'
complete -c bank -n "__fish_bank_needs_command" -f -a "transfer" -d 'Transfer money to another account, or pay a whole file of transfers at once'
complete -c bank -n "__fish_bank_needs_command" -f -a "token" -d 'Print the current access token on stdout'
complete -c bank -n "__fish_bank_needs_command" -f -a "config" -d 'Read and change a profile\'s settings (every key is listed below)'
complete -c bank -n "__fish_bank_needs_command" -f -a "completions" -d 'Print a shell completion script'
complete -c bank -n "__fish_bank_needs_command" -f -a "man" -d 'Write man pages for bank and every subcommand into a directory'
complete -c bank -n "__fish_bank_needs_command" -f -a "demo" -d 'Watch OAuth step-up authentication happen, start to finish'
complete -c bank -n "__fish_bank_needs_command" -f -a "sandbox" -d 'Run the local sandbox bank in the foreground'
complete -c bank -n "__fish_bank_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c bank -n "__fish_bank_using_subcommand login" -l callback-port -d 'Listen for the redirect on this port instead of a random one' -r
complete -c bank -n "__fish_bank_using_subcommand login" -l timeout -d 'How long to wait for the sign-in (e.g. 300, 90s, 5m)' -r
complete -c bank -n "__fish_bank_using_subcommand login" -l scope -d 'Request an extra scope on top of the profile\'s (repeatable)' -r
complete -c bank -n "__fish_bank_using_subcommand login" -l issuer -d 'The authorization server\'s issuer identifier (exact string; https except loopback)' -r
complete -c bank -n "__fish_bank_using_subcommand login" -l client-id -d 'The public OAuth client id registered for bank' -r
complete -c bank -n "__fish_bank_using_subcommand login" -l audience -d 'The bank API\'s identifier (the access token\'s audience)' -r
complete -c bank -n "__fish_bank_using_subcommand login" -l api-url -d 'The bank API\'s base URL (https except loopback)' -r
complete -c bank -n "__fish_bank_using_subcommand login" -l profile -d 'Profile to use (default: BANK_PROFILE, else `default`); `bank config list --profiles` lists them' -r -f
complete -c bank -n "__fish_bank_using_subcommand login" -l no-browser -d 'Do not open a browser: use the device flow where the provider offers it, else print the URL'
complete -c bank -n "__fish_bank_using_subcommand login" -l device -d 'Sign in on another device with a code (RFC 8628 device flow)'
complete -c bank -n "__fish_bank_using_subcommand login" -l force -d 'Force a fresh sign-in even if the provider remembers you (prompt=login)'
complete -c bank -n "__fish_bank_using_subcommand login" -l insecure-storage -d 'Store tokens in a plain-text file (0600) instead of the system keyring'
complete -c bank -n "__fish_bank_using_subcommand login" -l json -d 'Print machine-readable JSON on stdout'
complete -c bank -n "__fish_bank_using_subcommand login" -l no-input -d 'Never prompt; fail instead of asking'
complete -c bank -n "__fish_bank_using_subcommand login" -s v -l verbose -d 'More detail on stderr (repeat for more)'
complete -c bank -n "__fish_bank_using_subcommand login" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c bank -n "__fish_bank_using_subcommand login" -s V -l version -d 'Print version'
complete -c bank -n "__fish_bank_using_subcommand logout" -l profile -d 'Profile to use (default: BANK_PROFILE, else `default`); `bank config list --profiles` lists them' -r -f
complete -c bank -n "__fish_bank_using_subcommand logout" -l json -d 'Print machine-readable JSON on stdout'
complete -c bank -n "__fish_bank_using_subcommand logout" -l no-input -d 'Never prompt; fail instead of asking'
complete -c bank -n "__fish_bank_using_subcommand logout" -s v -l verbose -d 'More detail on stderr (repeat for more)'
complete -c bank -n "__fish_bank_using_subcommand logout" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c bank -n "__fish_bank_using_subcommand logout" -s V -l version -d 'Print version'
complete -c bank -n "__fish_bank_using_subcommand status" -l profile -d 'Profile to use (default: BANK_PROFILE, else `default`); `bank config list --profiles` lists them' -r -f
complete -c bank -n "__fish_bank_using_subcommand status" -l all -d 'Every profile, one line each (with `--json`: an array)'
complete -c bank -n "__fish_bank_using_subcommand status" -l offline -d 'Do not refresh an expired access token: report the stored login as it is'
complete -c bank -n "__fish_bank_using_subcommand status" -l json -d 'Print machine-readable JSON on stdout'
complete -c bank -n "__fish_bank_using_subcommand status" -l no-input -d 'Never prompt; fail instead of asking'
complete -c bank -n "__fish_bank_using_subcommand status" -s v -l verbose -d 'More detail on stderr (repeat for more)'
complete -c bank -n "__fish_bank_using_subcommand status" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c bank -n "__fish_bank_using_subcommand status" -s V -l version -d 'Print version'
complete -c bank -n "__fish_bank_using_subcommand balance" -l profile -d 'Profile to use (default: BANK_PROFILE, else `default`); `bank config list --profiles` lists them' -r -f
complete -c bank -n "__fish_bank_using_subcommand balance" -l json -d 'Print machine-readable JSON on stdout'
complete -c bank -n "__fish_bank_using_subcommand balance" -l no-input -d 'Never prompt; fail instead of asking'
complete -c bank -n "__fish_bank_using_subcommand balance" -s v -l verbose -d 'More detail on stderr (repeat for more)'
complete -c bank -n "__fish_bank_using_subcommand balance" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c bank -n "__fish_bank_using_subcommand balance" -s V -l version -d 'Print version'
complete -c bank -n "__fish_bank_using_subcommand history" -s n -l limit -d 'How many transfers to show (1-100)' -r
complete -c bank -n "__fish_bank_using_subcommand history" -l profile -d 'Profile to use (default: BANK_PROFILE, else `default`); `bank config list --profiles` lists them' -r -f
complete -c bank -n "__fish_bank_using_subcommand history" -l json -d 'Print machine-readable JSON on stdout'
complete -c bank -n "__fish_bank_using_subcommand history" -l no-input -d 'Never prompt; fail instead of asking'
complete -c bank -n "__fish_bank_using_subcommand history" -s v -l verbose -d 'More detail on stderr (repeat for more)'
complete -c bank -n "__fish_bank_using_subcommand history" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c bank -n "__fish_bank_using_subcommand history" -s V -l version -d 'Print version'
complete -c bank -n "__fish_bank_using_subcommand transfer" -l to -d 'Recipient\'s account handle (e.g. bob)' -r
complete -c bank -n "__fish_bank_using_subcommand transfer" -l amount -d 'Amount, e.g. 25 or 25.00 (at most two decimals)' -r
complete -c bank -n "__fish_bank_using_subcommand transfer" -l currency -d 'Currency (ISO 4217), for a batch of the lines that name none; the bank refuses one that is not the account\'s' -r
complete -c bank -n "__fish_bank_using_subcommand transfer" -l memo -d 'A note for the recipient (at most 140 characters)' -r
complete -c bank -n "__fish_bank_using_subcommand transfer" -l batch -d 'Pay every line of a CSV or JSON Lines file (`-`: stdin) as one batch, approved once' -r -F
complete -c bank -n "__fish_bank_using_subcommand transfer" -l format -d 'The batch file\'s format (default: JSON Lines when a line starts with `{`, else CSV)' -r -f -a "csv\t'Comma-separated values with a header line (RFC 4180 quoting)'
jsonl\t'One JSON object per line'"
complete -c bank -n "__fish_bank_using_subcommand transfer" -l idempotency-key -d 'Reuse the key of an earlier attempt, so a retry cannot move money twice' -r
complete -c bank -n "__fish_bank_using_subcommand transfer" -l timeout -d 'For step-up: how long to wait for the approval (e.g. 90s, 5m)' -r
complete -c bank -n "__fish_bank_using_subcommand transfer" -l profile -d 'Profile to use (default: BANK_PROFILE, else `default`); `bank config list --profiles` lists them' -r -f
complete -c bank -n "__fish_bank_using_subcommand transfer" -s y -l yes -d 'Do not ask for confirmation (required with --no-input or without a terminal)'
complete -c bank -n "__fish_bank_using_subcommand transfer" -l no-browser -d 'For step-up: print the URL but do not open a browser'
complete -c bank -n "__fish_bank_using_subcommand transfer" -l json -d 'Print machine-readable JSON on stdout'
complete -c bank -n "__fish_bank_using_subcommand transfer" -l no-input -d 'Never prompt; fail instead of asking'
complete -c bank -n "__fish_bank_using_subcommand transfer" -s v -l verbose -d 'More detail on stderr (repeat for more)'
complete -c bank -n "__fish_bank_using_subcommand transfer" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c bank -n "__fish_bank_using_subcommand transfer" -s V -l version -d 'Print version'
complete -c bank -n "__fish_bank_using_subcommand token" -l method -d 'The request\'s method, for --dpop-proof' -r
complete -c bank -n "__fish_bank_using_subcommand token" -l url -d 'The request\'s URL, for --dpop-proof (query and fragment are not part of the proof)' -r
complete -c bank -n "__fish_bank_using_subcommand token" -l nonce -d 'The server\'s DPoP-Nonce to put in the proof, for --dpop-proof' -r
complete -c bank -n "__fish_bank_using_subcommand token" -l profile -d 'Profile to use (default: BANK_PROFILE, else `default`); `bank config list --profiles` lists them' -r -f
complete -c bank -n "__fish_bank_using_subcommand token" -l dpop-proof -d 'Print a DPoP proof for one request with the token instead of the token'
complete -c bank -n "__fish_bank_using_subcommand token" -l json -d 'Print machine-readable JSON on stdout'
complete -c bank -n "__fish_bank_using_subcommand token" -l no-input -d 'Never prompt; fail instead of asking'
complete -c bank -n "__fish_bank_using_subcommand token" -s v -l verbose -d 'More detail on stderr (repeat for more)'
complete -c bank -n "__fish_bank_using_subcommand token" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c bank -n "__fish_bank_using_subcommand token" -s V -l version -d 'Print version'
complete -c bank -n "__fish_bank_using_subcommand config; and not __fish_seen_subcommand_from get set unset list path help" -l profile -d 'Profile to use (default: BANK_PROFILE, else `default`); `bank config list --profiles` lists them' -r -f
complete -c bank -n "__fish_bank_using_subcommand config; and not __fish_seen_subcommand_from get set unset list path help" -l json -d 'Print machine-readable JSON on stdout'
complete -c bank -n "__fish_bank_using_subcommand config; and not __fish_seen_subcommand_from get set unset list path help" -l no-input -d 'Never prompt; fail instead of asking'
complete -c bank -n "__fish_bank_using_subcommand config; and not __fish_seen_subcommand_from get set unset list path help" -s v -l verbose -d 'More detail on stderr (repeat for more)'
complete -c bank -n "__fish_bank_using_subcommand config; and not __fish_seen_subcommand_from get set unset list path help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c bank -n "__fish_bank_using_subcommand config; and not __fish_seen_subcommand_from get set unset list path help" -s V -l version -d 'Print version'
complete -c bank -n "__fish_bank_using_subcommand config; and not __fish_seen_subcommand_from get set unset list path help" -f -a "get" -d 'Print the effective value of a setting (after environment overrides)'
complete -c bank -n "__fish_bank_using_subcommand config; and not __fish_seen_subcommand_from get set unset list path help" -f -a "set" -d 'Change a setting in the configuration file (creates the profile if needed)'
complete -c bank -n "__fish_bank_using_subcommand config; and not __fish_seen_subcommand_from get set unset list path help" -f -a "unset" -d 'Remove a setting from the configuration file (the default applies again)'
complete -c bank -n "__fish_bank_using_subcommand config; and not __fish_seen_subcommand_from get set unset list path help" -f -a "list" -d 'List the effective settings of the profile and their sources'
complete -c bank -n "__fish_bank_using_subcommand config; and not __fish_seen_subcommand_from get set unset list path help" -f -a "path" -d 'Print the path of the configuration file'
complete -c bank -n "__fish_bank_using_subcommand config; and not __fish_seen_subcommand_from get set unset list path help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c bank -n "__fish_bank_using_subcommand config; and __fish_seen_subcommand_from get" -l profile -d 'Profile to use (default: BANK_PROFILE, else `default`); `bank config list --profiles` lists them' -r -f
complete -c bank -n "__fish_bank_using_subcommand config; and __fish_seen_subcommand_from get" -l json -d 'Print machine-readable JSON on stdout'
complete -c bank -n "__fish_bank_using_subcommand config; and __fish_seen_subcommand_from get" -l no-input -d 'Never prompt; fail instead of asking'
complete -c bank -n "__fish_bank_using_subcommand config; and __fish_seen_subcommand_from get" -s v -l verbose -d 'More detail on stderr (repeat for more)'
complete -c bank -n "__fish_bank_using_subcommand config; and __fish_seen_subcommand_from get" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c bank -n "__fish_bank_using_subcommand config; and __fish_seen_subcommand_from get" -s V -l version -d 'Print version'
complete -c bank -n "__fish_bank_using_subcommand config; and __fish_seen_subcommand_from set" -l profile -d 'Profile to use (default: BANK_PROFILE, else `default`); `bank config list --profiles` lists them' -r -f
complete -c bank -n "__fish_bank_using_subcommand config; and __fish_seen_subcommand_from set" -l json -d 'Print machine-readable JSON on stdout'
complete -c bank -n "__fish_bank_using_subcommand config; and __fish_seen_subcommand_from set" -l no-input -d 'Never prompt; fail instead of asking'
complete -c bank -n "__fish_bank_using_subcommand config; and __fish_seen_subcommand_from set" -s v -l verbose -d 'More detail on stderr (repeat for more)'
complete -c bank -n "__fish_bank_using_subcommand config; and __fish_seen_subcommand_from set" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c bank -n "__fish_bank_using_subcommand config; and __fish_seen_subcommand_from set" -s V -l version -d 'Print version'
complete -c bank -n "__fish_bank_using_subcommand config; and __fish_seen_subcommand_from unset" -l profile -d 'Profile to use (default: BANK_PROFILE, else `default`); `bank config list --profiles` lists them' -r -f
complete -c bank -n "__fish_bank_using_subcommand config; and __fish_seen_subcommand_from unset" -l json -d 'Print machine-readable JSON on stdout'
complete -c bank -n "__fish_bank_using_subcommand config; and __fish_seen_subcommand_from unset" -l no-input -d 'Never prompt; fail instead of asking'
complete -c bank -n "__fish_bank_using_subcommand config; and __fish_seen_subcommand_from unset" -s v -l verbose -d 'More detail on stderr (repeat for more)'
complete -c bank -n "__fish_bank_using_subcommand config; and __fish_seen_subcommand_from unset" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c bank -n "__fish_bank_using_subcommand config; and __fish_seen_subcommand_from unset" -s V -l version -d 'Print version'
complete -c bank -n "__fish_bank_using_subcommand config; and __fish_seen_subcommand_from list" -l profile -d 'Profile to use (default: BANK_PROFILE, else `default`); `bank config list --profiles` lists them' -r -f
complete -c bank -n "__fish_bank_using_subcommand config; and __fish_seen_subcommand_from list" -l profiles -d 'List every profile (name, issuer, client id, API URL) instead of one profile\'s settings'
complete -c bank -n "__fish_bank_using_subcommand config; and __fish_seen_subcommand_from list" -l json -d 'Print machine-readable JSON on stdout'
complete -c bank -n "__fish_bank_using_subcommand config; and __fish_seen_subcommand_from list" -l no-input -d 'Never prompt; fail instead of asking'
complete -c bank -n "__fish_bank_using_subcommand config; and __fish_seen_subcommand_from list" -s v -l verbose -d 'More detail on stderr (repeat for more)'
complete -c bank -n "__fish_bank_using_subcommand config; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c bank -n "__fish_bank_using_subcommand config; and __fish_seen_subcommand_from list" -s V -l version -d 'Print version'
complete -c bank -n "__fish_bank_using_subcommand config; and __fish_seen_subcommand_from path" -l profile -d 'Profile to use (default: BANK_PROFILE, else `default`); `bank config list --profiles` lists them' -r -f
complete -c bank -n "__fish_bank_using_subcommand config; and __fish_seen_subcommand_from path" -l json -d 'Print machine-readable JSON on stdout'
complete -c bank -n "__fish_bank_using_subcommand config; and __fish_seen_subcommand_from path" -l no-input -d 'Never prompt; fail instead of asking'
complete -c bank -n "__fish_bank_using_subcommand config; and __fish_seen_subcommand_from path" -s v -l verbose -d 'More detail on stderr (repeat for more)'
complete -c bank -n "__fish_bank_using_subcommand config; and __fish_seen_subcommand_from path" -s h -l help -d 'Print help'
complete -c bank -n "__fish_bank_using_subcommand config; and __fish_seen_subcommand_from path" -s V -l version -d 'Print version'
complete -c bank -n "__fish_bank_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "get" -d 'Print the effective value of a setting (after environment overrides)'
complete -c bank -n "__fish_bank_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "set" -d 'Change a setting in the configuration file (creates the profile if needed)'
complete -c bank -n "__fish_bank_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "unset" -d 'Remove a setting from the configuration file (the default applies again)'
complete -c bank -n "__fish_bank_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "list" -d 'List the effective settings of the profile and their sources'
complete -c bank -n "__fish_bank_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "path" -d 'Print the path of the configuration file'
complete -c bank -n "__fish_bank_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c bank -n "__fish_bank_using_subcommand completions" -l profile -d 'Profile to use (default: BANK_PROFILE, else `default`); `bank config list --profiles` lists them' -r -f
complete -c bank -n "__fish_bank_using_subcommand completions" -l json -d 'Print machine-readable JSON on stdout'
complete -c bank -n "__fish_bank_using_subcommand completions" -l no-input -d 'Never prompt; fail instead of asking'
complete -c bank -n "__fish_bank_using_subcommand completions" -s v -l verbose -d 'More detail on stderr (repeat for more)'
complete -c bank -n "__fish_bank_using_subcommand completions" -s h -l help -d 'Print help'
complete -c bank -n "__fish_bank_using_subcommand completions" -s V -l version -d 'Print version'
complete -c bank -n "__fish_bank_using_subcommand man" -l profile -d 'Profile to use (default: BANK_PROFILE, else `default`); `bank config list --profiles` lists them' -r -f
complete -c bank -n "__fish_bank_using_subcommand man" -l json -d 'Print machine-readable JSON on stdout'
complete -c bank -n "__fish_bank_using_subcommand man" -l no-input -d 'Never prompt; fail instead of asking'
complete -c bank -n "__fish_bank_using_subcommand man" -s v -l verbose -d 'More detail on stderr (repeat for more)'
complete -c bank -n "__fish_bank_using_subcommand man" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c bank -n "__fish_bank_using_subcommand man" -s V -l version -d 'Print version'
complete -c bank -n "__fish_bank_using_subcommand demo" -l profile -d 'Profile to use (default: BANK_PROFILE, else `default`); `bank config list --profiles` lists them' -r -f
complete -c bank -n "__fish_bank_using_subcommand demo" -s y -l yes -d 'Approve everything and run unattended: no browser, no prompt'
complete -c bank -n "__fish_bank_using_subcommand demo" -l json -d 'Print machine-readable JSON on stdout'
complete -c bank -n "__fish_bank_using_subcommand demo" -l no-input -d 'Never prompt; fail instead of asking'
complete -c bank -n "__fish_bank_using_subcommand demo" -s v -l verbose -d 'More detail on stderr (repeat for more)'
complete -c bank -n "__fish_bank_using_subcommand demo" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c bank -n "__fish_bank_using_subcommand demo" -s V -l version -d 'Print version'
complete -c bank -n "__fish_bank_using_subcommand sandbox" -l data-dir -d 'Directory for authz.sqlite3, bank.sqlite3 and the admin token' -r -F
complete -c bank -n "__fish_bank_using_subcommand sandbox" -l config -d 'Optional TOML configuration (clients, users, rules, lifetimes, limits, addresses)' -r -F
complete -c bank -n "__fish_bank_using_subcommand sandbox" -l authz-addr -d 'Authorization server listen address (default: the config file\'s, else port 8400 on 127.0.0.1; port 0 picks a free port)' -r
complete -c bank -n "__fish_bank_using_subcommand sandbox" -l api-addr -d 'Bank API listen address (default: the config file\'s, else port 8401 on 127.0.0.1; port 0 picks a free port)' -r
complete -c bank -n "__fish_bank_using_subcommand sandbox" -l database -d 'The bank API\'s ledger: sqlite:PATH or postgres://USER@HOST/DB [default: [api] database, else $BANK_API_DATABASE_URL, else bank.sqlite3 in the data dir]' -r
complete -c bank -n "__fish_bank_using_subcommand sandbox" -l profile -d 'Profile to use (default: BANK_PROFILE, else `default`); `bank config list --profiles` lists them' -r -f
complete -c bank -n "__fish_bank_using_subcommand sandbox" -l allow-non-loopback -d 'Allow listening on non-loopback addresses (anyone who can reach them can use the demo accounts)'
complete -c bank -n "__fish_bank_using_subcommand sandbox" -l in-memory -d 'Keep everything in memory: nothing is written, everything is gone on exit'
complete -c bank -n "__fish_bank_using_subcommand sandbox" -l json -d 'Print machine-readable JSON on stdout'
complete -c bank -n "__fish_bank_using_subcommand sandbox" -l no-input -d 'Never prompt; fail instead of asking'
complete -c bank -n "__fish_bank_using_subcommand sandbox" -s v -l verbose -d 'More detail on stderr (repeat for more)'
complete -c bank -n "__fish_bank_using_subcommand sandbox" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c bank -n "__fish_bank_using_subcommand sandbox" -s V -l version -d 'Print version'
complete -c bank -n "__fish_bank_using_subcommand help; and not __fish_seen_subcommand_from login logout status balance history transfer token config completions man demo sandbox help" -f -a "login" -d 'Sign in through your browser, or with a code on another device'
complete -c bank -n "__fish_bank_using_subcommand help; and not __fish_seen_subcommand_from login logout status balance history transfer token config completions man demo sandbox help" -f -a "logout" -d 'Sign out: revoke the refresh token and delete the stored tokens'
complete -c bank -n "__fish_bank_using_subcommand help; and not __fish_seen_subcommand_from login logout status balance history transfer token config completions man demo sandbox help" -f -a "status" -d 'Show the login state of the current profile'
complete -c bank -n "__fish_bank_using_subcommand help; and not __fish_seen_subcommand_from login logout status balance history transfer token config completions man demo sandbox help" -f -a "balance" -d 'Show the account balance'
complete -c bank -n "__fish_bank_using_subcommand help; and not __fish_seen_subcommand_from login logout status balance history transfer token config completions man demo sandbox help" -f -a "history" -d 'Show recent transfers, newest first'
complete -c bank -n "__fish_bank_using_subcommand help; and not __fish_seen_subcommand_from login logout status balance history transfer token config completions man demo sandbox help" -f -a "transfer" -d 'Transfer money to another account, or pay a whole file of transfers at once'
complete -c bank -n "__fish_bank_using_subcommand help; and not __fish_seen_subcommand_from login logout status balance history transfer token config completions man demo sandbox help" -f -a "token" -d 'Print the current access token on stdout'
complete -c bank -n "__fish_bank_using_subcommand help; and not __fish_seen_subcommand_from login logout status balance history transfer token config completions man demo sandbox help" -f -a "config" -d 'Read and change a profile\'s settings (every key is listed below)'
complete -c bank -n "__fish_bank_using_subcommand help; and not __fish_seen_subcommand_from login logout status balance history transfer token config completions man demo sandbox help" -f -a "completions" -d 'Print a shell completion script'
complete -c bank -n "__fish_bank_using_subcommand help; and not __fish_seen_subcommand_from login logout status balance history transfer token config completions man demo sandbox help" -f -a "man" -d 'Write man pages for bank and every subcommand into a directory'
complete -c bank -n "__fish_bank_using_subcommand help; and not __fish_seen_subcommand_from login logout status balance history transfer token config completions man demo sandbox help" -f -a "demo" -d 'Watch OAuth step-up authentication happen, start to finish'
complete -c bank -n "__fish_bank_using_subcommand help; and not __fish_seen_subcommand_from login logout status balance history transfer token config completions man demo sandbox help" -f -a "sandbox" -d 'Run the local sandbox bank in the foreground'
complete -c bank -n "__fish_bank_using_subcommand help; and not __fish_seen_subcommand_from login logout status balance history transfer token config completions man demo sandbox help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c bank -n "__fish_bank_using_subcommand help; and __fish_seen_subcommand_from config" -f -a "get" -d 'Print the effective value of a setting (after environment overrides)'
complete -c bank -n "__fish_bank_using_subcommand help; and __fish_seen_subcommand_from config" -f -a "set" -d 'Change a setting in the configuration file (creates the profile if needed)'
complete -c bank -n "__fish_bank_using_subcommand help; and __fish_seen_subcommand_from config" -f -a "unset" -d 'Remove a setting from the configuration file (the default applies again)'
complete -c bank -n "__fish_bank_using_subcommand help; and __fish_seen_subcommand_from config" -f -a "list" -d 'List the effective settings of the profile and their sources'
complete -c bank -n "__fish_bank_using_subcommand help; and __fish_seen_subcommand_from config" -f -a "path" -d 'Print the path of the configuration file'
