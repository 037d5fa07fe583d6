// Seed 003's socket code (its sections "2. Connect to WebSocket" and "3. Send Messages"),
// as written. One line differs, marked "changed": the URL, whose host is CHAT_WS
// (chat-local's WebSocket API) and whose query carries the session and the dialect too,
// because an API Gateway WebSocket URL routes no path (a deployment with
// WS_DIALECT=chatbot needs no `dialect=`). The driver's lines, marked so, stand in for
// section 1 (the session, made over REST by the test) and for the page's display
// functions, send the example's message once the socket is open, and exit once the reply
// is complete.

const sessionData = { session_id: process.env.CHAT_SESSION }; // the driver's
const userJwtToken = process.env.CHAT_TOKEN; // the driver's
let assistantMessage = ''; // the driver's
const displayMessage = (role, text) => console.log(`${role}: ${text}`); // the driver's
const displayError = (text) => console.error(`error: ${text}`); // the driver's
const createNewAssistantMessage = () => { assistantMessage = ''; }; // the driver's
const appendToAssistantMessage = (chunk) => { assistantMessage += chunk; }; // the driver's
const finalizeAssistantMessage = (fullResponse) => { // the driver's
  displayMessage('assistant', fullResponse);
  console.log('the chunks add up to the full response:', fullResponse === assistantMessage);
  socket.close();
};

// Connect to WebSocket with session ID and JWT token
const wsUrl = `${process.env.CHAT_WS}/ws/chat/${sessionData.session_id}?token=${userJwtToken}&session_id=${sessionData.session_id}&dialect=chatbot`; // changed
const socket = new WebSocket(wsUrl);

socket.onopen = () => {
    console.log('Connected to chat');
};

socket.onmessage = (event) => {
    const data = JSON.parse(event.data);
    
    switch(data.type) {
        case 'session_info':
            console.log('Session info:', data);
            displayMessage('system', data.message);
            break;
            
        case 'message_received':
            console.log('Message acknowledged:', data.message_id);
            break;
            
        case 'response_start':
            console.log('Assistant is responding...');
            createNewAssistantMessage(); // Create empty message bubble
            break;
            
        case 'response_chunk':
            appendToAssistantMessage(data.chunk); // Append chunk to current message
            break;
            
        case 'response_complete':
            console.log('Response complete:', data.message_id);
            finalizeAssistantMessage(data.full_response);
            break;
            
        case 'error':
            console.error('Chat error:', data.message);
            displayError(data.message);
            break;
    }
};

socket.onerror = (error) => {
    console.error('WebSocket error:', error);
};

socket.onclose = () => {
    console.log('WebSocket closed');
    clearTimeout(timeout); // the driver's
};

function sendMessage(messageText) {
    if (socket.readyState === WebSocket.OPEN) {
        const messageData = {
            message: messageText,
            message_type: "text"
        };
        
        socket.send(JSON.stringify(messageData));
        
        // Display user message immediately
        displayMessage('user', messageText);
    }
}

// The driver's: the example's usage once the socket is open; fails after 10 s.
const timeout = setTimeout(() => { console.error('no reply in time'); process.exit(1); }, 10000);
socket.addEventListener('open', () => {
// Example usage
sendMessage("Hello, can you help me with my project?");
});
