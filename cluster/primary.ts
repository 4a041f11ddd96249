import { runNodeOrDie } from './run-node'

/** Entry file of a node: `npm start` / `node dist/cluster/primary.js [--config FILE]`. */
runNodeOrDie(process.argv.slice(2), process.env)
