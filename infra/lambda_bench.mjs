// A minimal Node.js Lambda runtime for infra/lambda_bench.py: loads the handler module
// named by _HANDLER from LAMBDA_TASK_ROOT (and so its SDK) before the first poll, as
// Lambda's Node runtime does, then polls /next, calls the handler and posts its answer.
import http from "node:http";
import path from "node:path";
import { pathToFileURL } from "node:url";

const api = process.env.AWS_LAMBDA_RUNTIME_API;
const [moduleName, exportName] = process.env._HANDLER.split(".");
const agent = new http.Agent({ keepAlive: true });

function request(method, route, body) {
  const [host, port] = api.split(":");
  return new Promise((resolve, reject) => {
    const outgoing = http.request(
      { host, port, method, agent, path: `/2018-06-01/runtime${route}`,
        headers: body === undefined ? {} : { "content-type": "application/json" } },
      (incoming) => {
        const chunks = [];
        incoming.on("data", (chunk) => chunks.push(chunk));
        incoming.on("end", () =>
          resolve({ headers: incoming.headers, body: Buffer.concat(chunks).toString() }));
      });
    outgoing.on("error", reject);
    outgoing.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

let handler;
try {
  const file = path.join(process.env.LAMBDA_TASK_ROOT, `${moduleName}.js`);
  handler = (await import(pathToFileURL(file).href))[exportName];
} catch (error) {
  await request("POST", "/init/error", { errorType: error.name, errorMessage: error.message });
  process.exit(1);
}

for (;;) {
  const next = await request("GET", "/invocation/next");
  const id = next.headers["lambda-runtime-aws-request-id"];
  const deadline = Number(next.headers["lambda-runtime-deadline-ms"]);
  const context = {
    awsRequestId: id,
    functionName: process.env.AWS_LAMBDA_FUNCTION_NAME,
    getRemainingTimeInMillis: () => deadline - Date.now(),
  };
  try {
    const result = await handler(JSON.parse(next.body), context);
    await request("POST", `/invocation/${id}/response`, result ?? null);
  } catch (error) {
    await request("POST", `/invocation/${id}/error`,
      { errorType: error.name, errorMessage: error.message });
  }
}
