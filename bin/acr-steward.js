#!/usr/bin/env node
// The CLI is compiled by `npm ci` (the `prepare` script); this stub only starts it.
import { main } from "../dist/cli/main.js";

process.exitCode = await main(process.argv);
