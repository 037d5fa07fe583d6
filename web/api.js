// The REST API, called with the signed-in user's token.

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export class Api {
  constructor(base, token) {
    this.base = base.replace(/\/$/, '');
    this.token = token;
  }

  async call(method, path, body) {
    const headers = { authorization: `Bearer ${this.token}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const response = await fetch(this.base + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const json = await response.json().catch(() => null);
    if (!response.ok) {
      throw new ApiError(response.status, json?.error?.message ?? `HTTP ${response.status}`);
    }
    return json;
  }

  async sessions() {
    return (await this.call('GET', '/sessions?limit=50')).items;
  }

  createSession(body) {
    return this.call('POST', '/sessions', body);
  }

  /** The business's open support sessions (its agents' queue). */
  async supportQueue(business) {
    return (await this.call('GET', `/businesses/${encodeURIComponent(business)}/sessions`)).items;
  }

  join(session) {
    return this.call('POST', `/sessions/${session}/join`);
  }

  async chatbots() {
    return (await this.call('GET', '/chatbots')).items;
  }

  announceUpload(session, file) {
    return this.call('POST', `/sessions/${session}/uploads`, {
      file_name: file.name,
      content_type: file.type || 'application/octet-stream',
      size: file.size,
    });
  }
}

/** Sends the file to the presigned URL an upload announcement gave, reporting progress. */
export function putUpload(upload, file, onProgress) {
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    request.open(upload.method, upload.url);
    for (const [name, value] of Object.entries(upload.headers ?? {})) {
      // The browser sets these itself from the body.
      if (!['content-length', 'host'].includes(name.toLowerCase())) request.setRequestHeader(name, value);
    }
    request.upload.onprogress = (event) => {
      if (event.lengthComputable) onProgress(Math.round((100 * event.loaded) / event.total));
    };
    request.onload = () => (request.status < 300 ? resolve() : reject(new Error(`the upload failed (HTTP ${request.status})`)));
    request.onerror = () => reject(new Error('the upload failed'));
    request.send(file);
  });
}

/** The claims of a token (not verified: the server does that). */
export function claims(token) {
  try {
    const part = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    return JSON.parse(atob(part));
  } catch {
    return null;
  }
}
