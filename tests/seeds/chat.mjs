// Seed 001's JavaScript example ("WebSocket Connection"), as written. One line differs,
// marked "changed": the URL, whose host is CHAT_WS (chat-local's WebSocket API) and whose
// query carries the chat, the token and the dialect, because an API Gateway WebSocket URL
// routes no path and the seed's socket has no token (a deployment with WS_DIALECT=chat
// needs no `dialect=`). The driver's lines, marked "the driver's", wait for the socket to
// open (the example sends at once, which a WebSocket refuses before it is open) and exit
// once the bot's reply arrived.

const chat_id = process.env.CHAT_ID; // the driver's
const token = process.env.CHAT_TOKEN; // the driver's

// Connect to WebSocket
const ws = new WebSocket(`${process.env.CHAT_WS}/chat/ws/${chat_id}?chat_id=${chat_id}&token=${token}&dialect=chat`); // changed
await new Promise((resolve, reject) => { ws.addEventListener('open', resolve); ws.addEventListener('error', reject); }); // the driver's
const timeout = setTimeout(() => { console.error('no reply in time'); process.exit(1); }, 10000); // the driver's

// Send message
ws.send(JSON.stringify({
    mt: "message_upload",
    message: "Hello, how are you?",
    userId: "123",
    timezone: "UTC",
    selectedLanguage: "en"
}));

// Listen for messages
ws.onmessage = function(event) {
    const data = JSON.parse(event.data);
    console.log('Received:', data);
};

// The driver's: the bot's stored reply ends it.
ws.addEventListener('message', (event) => {
  const data = JSON.parse(event.data);
  if (data.mt === 'message_upload_confirm' && data.is_bot) ws.close();
});
ws.addEventListener('close', () => clearTimeout(timeout));
