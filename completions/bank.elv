
use builtin;
use str;

set edit:completion:arg-completer[bank] = {|@words|
    fn spaces {|n|
        builtin:repeat $n ' ' | str:join ''
    }
    fn cand {|text desc|
        edit:complex-candidate $text &display=$text' '(spaces (- 14 (wcswidth $text)))$desc
    }
    var command = 'bank'
    for word $words[1..-1] {
        if (str:has-prefix $word '-') {
            break
        }
        set command = $command';'$word
    }
    var completions = [
        &'bank'= {
            cand --profile 'Profile to use (default: BANK_PROFILE, else `default`); `bank config list --profiles` lists them'
            cand --json 'Print machine-readable JSON on stdout'
            cand --no-input 'Never prompt; fail instead of asking'
            cand -v 'More detail on stderr (repeat for more)'
            cand --verbose 'More detail on stderr (repeat for more)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
            cand login 'Sign in through your browser, or with a code on another device'
            cand logout 'Sign out: revoke the refresh token and delete the stored tokens'
            cand status 'Show the login state of the current profile'
            cand balance 'Show the account balance'
            cand history 'Show recent transfers, newest first'
            cand transfer 'Transfer money to another account, or pay a whole file of transfers at once'
            cand token 'Print the current access token on stdout'
            cand config 'Read and change a profile''s settings (every key is listed below)'
            cand completions 'Print a shell completion script'
            cand man 'Write man pages for bank and every subcommand into a directory'
            cand demo 'Watch OAuth step-up authentication happen, start to finish'
            cand sandbox 'Run the local sandbox bank in the foreground'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'bank;login'= {
            cand --callback-port 'Listen for the redirect on this port instead of a random one'
            cand --timeout 'How long to wait for the sign-in (e.g. 300, 90s, 5m)'
            cand --scope 'Request an extra scope on top of the profile''s (repeatable)'
            cand --issuer 'The authorization server''s issuer identifier (exact string; https except loopback)'
            cand --client-id 'The public OAuth client id registered for bank'
            cand --audience 'The bank API''s identifier (the access token''s audience)'
            cand --api-url 'The bank API''s base URL (https except loopback)'
            cand --profile 'Profile to use (default: BANK_PROFILE, else `default`); `bank config list --profiles` lists them'
            cand --no-browser 'Do not open a browser: use the device flow where the provider offers it, else print the URL'
            cand --device 'Sign in on another device with a code (RFC 8628 device flow)'
            cand --force 'Force a fresh sign-in even if the provider remembers you (prompt=login)'
            cand --insecure-storage 'Store tokens in a plain-text file (0600) instead of the system keyring'
            cand --json 'Print machine-readable JSON on stdout'
            cand --no-input 'Never prompt; fail instead of asking'
            cand -v 'More detail on stderr (repeat for more)'
            cand --verbose 'More detail on stderr (repeat for more)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'bank;logout'= {
            cand --profile 'Profile to use (default: BANK_PROFILE, else `default`); `bank config list --profiles` lists them'
            cand --json 'Print machine-readable JSON on stdout'
            cand --no-input 'Never prompt; fail instead of asking'
            cand -v 'More detail on stderr (repeat for more)'
            cand --verbose 'More detail on stderr (repeat for more)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'bank;status'= {
            cand --profile 'Profile to use (default: BANK_PROFILE, else `default`); `bank config list --profiles` lists them'
            cand --all 'Every profile, one line each (with `--json`: an array)'
            cand --offline 'Do not refresh an expired access token: report the stored login as it is'
            cand --json 'Print machine-readable JSON on stdout'
            cand --no-input 'Never prompt; fail instead of asking'
            cand -v 'More detail on stderr (repeat for more)'
            cand --verbose 'More detail on stderr (repeat for more)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'bank;balance'= {
            cand --profile 'Profile to use (default: BANK_PROFILE, else `default`); `bank config list --profiles` lists them'
            cand --json 'Print machine-readable JSON on stdout'
            cand --no-input 'Never prompt; fail instead of asking'
            cand -v 'More detail on stderr (repeat for more)'
            cand --verbose 'More detail on stderr (repeat for more)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'bank;history'= {
            cand -n 'How many transfers to show (1-100)'
            cand --limit 'How many transfers to show (1-100)'
            cand --profile 'Profile to use (default: BANK_PROFILE, else `default`); `bank config list --profiles` lists them'
            cand --json 'Print machine-readable JSON on stdout'
            cand --no-input 'Never prompt; fail instead of asking'
            cand -v 'More detail on stderr (repeat for more)'
            cand --verbose 'More detail on stderr (repeat for more)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'bank;transfer'= {
            cand --to 'Recipient''s account handle (e.g. bob)'
            cand --amount 'Amount, e.g. 25 or 25.00 (at most two decimals)'
            cand --currency 'Currency (ISO 4217), for a batch of the lines that name none; the bank refuses one that is not the account''s'
            cand --memo 'A note for the recipient (at most 140 characters)'
            cand --batch 'Pay every line of a CSV or JSON Lines file (`-`: stdin) as one batch, approved once'
            cand --format 'The batch file''s format (default: JSON Lines when a line starts with `{`, else CSV)'
            cand --idempotency-key 'Reuse the key of an earlier attempt, so a retry cannot move money twice'
            cand --timeout 'For step-up: how long to wait for the approval (e.g. 90s, 5m)'
            cand --profile 'Profile to use (default: BANK_PROFILE, else `default`); `bank config list --profiles` lists them'
            cand -y 'Do not ask for confirmation (required with --no-input or without a terminal)'
            cand --yes 'Do not ask for confirmation (required with --no-input or without a terminal)'
            cand --no-browser 'For step-up: print the URL but do not open a browser'
            cand --json 'Print machine-readable JSON on stdout'
            cand --no-input 'Never prompt; fail instead of asking'
            cand -v 'More detail on stderr (repeat for more)'
            cand --verbose 'More detail on stderr (repeat for more)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'bank;token'= {
            cand --method 'The request''s method, for --dpop-proof'
            cand --url 'The request''s URL, for --dpop-proof (query and fragment are not part of the proof)'
            cand --nonce 'The server''s DPoP-Nonce to put in the proof, for --dpop-proof'
            cand --profile 'Profile to use (default: BANK_PROFILE, else `default`); `bank config list --profiles` lists them'
            cand --dpop-proof 'Print a DPoP proof for one request with the token instead of the token'
            cand --json 'Print machine-readable JSON on stdout'
            cand --no-input 'Never prompt; fail instead of asking'
            cand -v 'More detail on stderr (repeat for more)'
            cand --verbose 'More detail on stderr (repeat for more)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'bank;config'= {
            cand --profile 'Profile to use (default: BANK_PROFILE, else `default`); `bank config list --profiles` lists them'
            cand --json 'Print machine-readable JSON on stdout'
            cand --no-input 'Never prompt; fail instead of asking'
            cand -v 'More detail on stderr (repeat for more)'
            cand --verbose 'More detail on stderr (repeat for more)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
            cand get 'Print the effective value of a setting (after environment overrides)'
            cand set 'Change a setting in the configuration file (creates the profile if needed)'
            cand unset 'Remove a setting from the configuration file (the default applies again)'
            cand list 'List the effective settings of the profile and their sources'
            cand path 'Print the path of the configuration file'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'bank;config;get'= {
            cand --profile 'Profile to use (default: BANK_PROFILE, else `default`); `bank config list --profiles` lists them'
            cand --json 'Print machine-readable JSON on stdout'
            cand --no-input 'Never prompt; fail instead of asking'
            cand -v 'More detail on stderr (repeat for more)'
            cand --verbose 'More detail on stderr (repeat for more)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'bank;config;set'= {
            cand --profile 'Profile to use (default: BANK_PROFILE, else `default`); `bank config list --profiles` lists them'
            cand --json 'Print machine-readable JSON on stdout'
            cand --no-input 'Never prompt; fail instead of asking'
            cand -v 'More detail on stderr (repeat for more)'
            cand --verbose 'More detail on stderr (repeat for more)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'bank;config;unset'= {
            cand --profile 'Profile to use (default: BANK_PROFILE, else `default`); `bank config list --profiles` lists them'
            cand --json 'Print machine-readable JSON on stdout'
            cand --no-input 'Never prompt; fail instead of asking'
            cand -v 'More detail on stderr (repeat for more)'
            cand --verbose 'More detail on stderr (repeat for more)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'bank;config;list'= {
            cand --profile 'Profile to use (default: BANK_PROFILE, else `default`); `bank config list --profiles` lists them'
            cand --profiles 'List every profile (name, issuer, client id, API URL) instead of one profile''s settings'
            cand --json 'Print machine-readable JSON on stdout'
            cand --no-input 'Never prompt; fail instead of asking'
            cand -v 'More detail on stderr (repeat for more)'
            cand --verbose 'More detail on stderr (repeat for more)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'bank;config;path'= {
            cand --profile 'Profile to use (default: BANK_PROFILE, else `default`); `bank config list --profiles` lists them'
            cand --json 'Print machine-readable JSON on stdout'
            cand --no-input 'Never prompt; fail instead of asking'
            cand -v 'More detail on stderr (repeat for more)'
            cand --verbose 'More detail on stderr (repeat for more)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'bank;config;help'= {
            cand get 'Print the effective value of a setting (after environment overrides)'
            cand set 'Change a setting in the configuration file (creates the profile if needed)'
            cand unset 'Remove a setting from the configuration file (the default applies again)'
            cand list 'List the effective settings of the profile and their sources'
            cand path 'Print the path of the configuration file'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'bank;config;help;get'= {
        }
        &'bank;config;help;set'= {
        }
        &'bank;config;help;unset'= {
        }
        &'bank;config;help;list'= {
        }
        &'bank;config;help;path'= {
        }
        &'bank;config;help;help'= {
        }
        &'bank;completions'= {
            cand --profile 'Profile to use (default: BANK_PROFILE, else `default`); `bank config list --profiles` lists them'
            cand --json 'Print machine-readable JSON on stdout'
            cand --no-input 'Never prompt; fail instead of asking'
            cand -v 'More detail on stderr (repeat for more)'
            cand --verbose 'More detail on stderr (repeat for more)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'bank;man'= {
            cand --profile 'Profile to use (default: BANK_PROFILE, else `default`); `bank config list --profiles` lists them'
            cand --json 'Print machine-readable JSON on stdout'
            cand --no-input 'Never prompt; fail instead of asking'
            cand -v 'More detail on stderr (repeat for more)'
            cand --verbose 'More detail on stderr (repeat for more)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'bank;demo'= {
            cand --profile 'Profile to use (default: BANK_PROFILE, else `default`); `bank config list --profiles` lists them'
            cand -y 'Approve everything and run unattended: no browser, no prompt'
            cand --yes 'Approve everything and run unattended: no browser, no prompt'
            cand --json 'Print machine-readable JSON on stdout'
            cand --no-input 'Never prompt; fail instead of asking'
            cand -v 'More detail on stderr (repeat for more)'
            cand --verbose 'More detail on stderr (repeat for more)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'bank;sandbox'= {
            cand --data-dir 'Directory for authz.sqlite3, bank.sqlite3 and the admin token'
            cand --config 'Optional TOML configuration (clients, users, rules, lifetimes, limits, addresses)'
            cand --authz-addr 'Authorization server listen address (default: the config file''s, else port 8400 on 127.0.0.1; port 0 picks a free port)'
            cand --api-addr 'Bank API listen address (default: the config file''s, else port 8401 on 127.0.0.1; port 0 picks a free port)'
            cand --database 'The bank API''s ledger: sqlite:PATH or postgres://USER@HOST/DB [default: [api] database, else $BANK_API_DATABASE_URL, else bank.sqlite3 in the data dir]'
            cand --profile 'Profile to use (default: BANK_PROFILE, else `default`); `bank config list --profiles` lists them'
            cand --allow-non-loopback 'Allow listening on non-loopback addresses (anyone who can reach them can use the demo accounts)'
            cand --in-memory 'Keep everything in memory: nothing is written, everything is gone on exit'
            cand --json 'Print machine-readable JSON on stdout'
            cand --no-input 'Never prompt; fail instead of asking'
            cand -v 'More detail on stderr (repeat for more)'
            cand --verbose 'More detail on stderr (repeat for more)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'bank;help'= {
            cand login 'Sign in through your browser, or with a code on another device'
            cand logout 'Sign out: revoke the refresh token and delete the stored tokens'
            cand status 'Show the login state of the current profile'
            cand balance 'Show the account balance'
            cand history 'Show recent transfers, newest first'
            cand transfer 'Transfer money to another account, or pay a whole file of transfers at once'
            cand token 'Print the current access token on stdout'
            cand config 'Read and change a profile''s settings (every key is listed below)'
            cand completions 'Print a shell completion script'
            cand man 'Write man pages for bank and every subcommand into a directory'
            cand demo 'Watch OAuth step-up authentication happen, start to finish'
            cand sandbox 'Run the local sandbox bank in the foreground'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'bank;help;login'= {
        }
        &'bank;help;logout'= {
        }
        &'bank;help;status'= {
        }
        &'bank;help;balance'= {
        }
        &'bank;help;history'= {
        }
        &'bank;help;transfer'= {
        }
        &'bank;help;token'= {
        }
        &'bank;help;config'= {
            cand get 'Print the effective value of a setting (after environment overrides)'
            cand set 'Change a setting in the configuration file (creates the profile if needed)'
            cand unset 'Remove a setting from the configuration file (the default applies again)'
            cand list 'List the effective settings of the profile and their sources'
            cand path 'Print the path of the configuration file'
        }
        &'bank;help;config;get'= {
        }
        &'bank;help;config;set'= {
        }
        &'bank;help;config;unset'= {
        }
        &'bank;help;config;list'= {
        }
        &'bank;help;config;path'= {
        }
        &'bank;help;completions'= {
        }
        &'bank;help;man'= {
        }
        &'bank;help;demo'= {
        }
        &'bank;help;sandbox'= {
        }
        &'bank;help;help'= {
        }
    ]
    $completions[$command]
}
