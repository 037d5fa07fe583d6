// Seed 002's JavaScript example (its "Example Usage"), as written, driven the way its
// comment says: connect, then chat.sendMessage('Hello, AI!'). Two lines differ, marked
// "changed": the host (CHAT_WS, chat-local's WebSocket API) and the query, which names the
// dialect and carries client_id, because an API Gateway WebSocket URL routes no path (a
// deployment with WS_DIALECT=ai needs only `?token=`). It exits once the reply arrived.

const connectToAIChat = async (token, clientId = `client-${Math.random().toString(36).substr(2, 9)}`) => {
  const wsUrl = `${process.env.CHAT_WS}/ws/ai/ai-chat/${clientId}?token=${token}&client_id=${clientId}&dialect=ai`; // changed

  const socket = new WebSocket(wsUrl);

  socket.onopen = () => {
    console.log('Connected to AI Chat WebSocket');
  };

  socket.onmessage = (event) => {
    const data = JSON.parse(event.data);
    console.log('Received:', data);

    // Handle different message types
    switch(data.type) {
      case 'system':
        console.log('System:', data.message);
        break;
      case 'ai_response':
        console.log('AI:', data.message);
        socket.close(); // the driver's: one answer is enough
        break;
      case 'error':
        console.error('Error:', data.message);
        break;
      default:
        console.log('Unknown message type:', data);
    }
  };

  socket.onclose = (event) => {
    console.log('Disconnected from AI Chat WebSocket:', event.reason || 'No reason provided');
  };

  socket.onerror = (error) => {
    console.error('WebSocket error:', error);
  };

  // Function to send a message
  const sendMessage = (content) => {
    if (socket.readyState === WebSocket.OPEN) {
      socket.send(JSON.stringify({ content }));
      return true;
    }
    return false;
  };

  return {
    socket,
    sendMessage,
    close: () => socket.close()
  };
};

// The driver: the example's own usage, once the socket is open; fails after 10 s.
const chat = await connectToAIChat(process.env.CHAT_TOKEN);
const timeout = setTimeout(() => { console.error('no answer in time'); process.exit(1); }, 10000);
chat.socket.addEventListener('open', () => chat.sendMessage('Hello, AI!'));
chat.socket.addEventListener('close', () => { clearTimeout(timeout); });
